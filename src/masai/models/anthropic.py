"""Anthropic's Messages API as a masai ``Model``.

Claude has no JSON-schema response format, but a forced tool call is the same thing: the
decision is the input of one tool, ``decide``, whose schema is the decision schema. Tool input
streams as JSON text, so the ``answer`` field still reaches the client token by token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, ModelOutputError
from ._base import Decision, Message, Model, ModelRequest
from ._partial_json import DecisionStreamParser
from ._retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    check_params,
    connection_failure,
    status_failure,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic, AsyncStream
    from anthropic.types import MessageParam, RawMessageStreamEvent

__all__ = ("AnthropicModel",)

_TOOL = "decide"
_RESERVED = ("model", "messages", "stream", "system", "tools", "tool_choice", "max_tokens")
_TOOL_DESCRIPTION = (
    "Record your decision for this step. Fill the fields in schema order: the answer comes last."
)
#: The API wants the conversation to open with a user turn.
_OPENING = "Continue."


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise ConfigError(
            "AnthropicModel needs the Anthropic SDK: pip install 'masai[anthropic]'"
        ) from exc
    return anthropic


class AnthropicModel(Model):
    """Claude, deciding through one forced tool call that streams as it is written.

    Extra keyword arguments go to ``messages.create`` unchanged.
    """

    def __init__(
        self,
        model_name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 4096,
        temperature: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: AsyncAnthropic | None = None,
        **params: Any,
    ) -> None:
        if max_retries < 0:
            raise ConfigError("max_retries must be 0 or more")
        self.name = model_name
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.params = params
        #: How failed calls are retried (replace it to tune backoff).
        self.retry = RetryPolicy(max_retries=max_retries)
        self._owns_client = client is None
        if client is None:
            anthropic = _sdk()
            try:
                client = anthropic.AsyncAnthropic(
                    api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
                )
            except (anthropic.AnthropicError, ValueError) as exc:
                raise ConfigError(f"AnthropicModel {model_name!r}: {exc}") from exc
        self.client: AsyncAnthropic = client
        check_params(self.client.messages.create, params, _RESERVED, type(self).__name__)

    async def aclose(self) -> None:
        """Close the HTTP client, if this model created it."""
        if self._owns_client:
            await self.client.close()

    async def decide(self, request: ModelRequest) -> Decision:
        return await call_with_retries(
            lambda: self._attempt(request),
            request=request,
            policy=self.retry,
            classify=_classify,
            label=f"Anthropic model {self.name!r}",
            secrets=(self.client.api_key, self.client.auth_token),
        )

    async def _attempt(self, request: ModelRequest) -> Decision:
        system, messages = _conversation(request.messages)
        options = dict(self.params)
        if system:
            options["system"] = system
        if self.temperature is not None:  # the SDK has no typed argument for it
            options["extra_body"] = {
                "temperature": self.temperature,
                **(options.get("extra_body") or {}),
            }
        stream = await self.client.messages.create(
            model=self.name,
            max_tokens=self.max_tokens,
            messages=messages,
            tools=[
                {
                    "name": _TOOL,
                    "description": _TOOL_DESCRIPTION,
                    "input_schema": request.output_schema,
                }
            ],
            tool_choice={"type": "tool", "name": _TOOL},
            stream=True,
            **options,
        )
        async with stream:
            return await _read_decision(stream, request)


def _conversation(messages: Sequence[Message]) -> tuple[str, list[MessageParam]]:
    """System text apart; the rest merged so user and assistant strictly alternate."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[list[str]] = []  # [role, text]
    for m in messages:
        if m.role == "system" or not m.content:
            continue
        if turns and turns[-1][0] == m.role:
            turns[-1][1] += f"\n\n{m.content}"
        else:
            turns.append([m.role, m.content])
    if not turns or turns[0][0] != "user":
        turns.insert(0, ["user", _OPENING])
    return system, [
        {"role": "user", "content": text}
        if role == "user"
        else {"role": "assistant", "content": text}
        for role, text in turns
    ]


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP library's own network errors, which the SDK lets escape mid-stream (the SDK
    moved from httpx to httpx2; either may be the one in use)."""
    errors: list[type[Exception]] = []
    with contextlib.suppress(ImportError):
        import httpx2

        errors.append(httpx2.TransportError)
    with contextlib.suppress(ImportError):
        import httpx

        errors.append(httpx.TransportError)
    return tuple(errors)


def _classify(exc: Exception) -> Failure | None:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        # also error events inside the stream: those carry the stream's own status, 200
        return status_failure(exc.status_code, exc.response.headers, exc.body, exc.message)
    if isinstance(exc, (anthropic.APIConnectionError, *_transport_errors())):  # timeouts too
        return connection_failure(exc)
    if isinstance(exc, anthropic.AnthropicError):
        return Failure(f"{type(exc).__name__}: {exc}", retryable=False)
    return None


def _input_tokens(usage: Any) -> int:
    """Billed input: uncached plus cache writes and reads (the API counts them apart)."""
    return sum(
        getattr(usage, field, None) or 0
        for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


async def _read_decision(
    stream: AsyncStream[RawMessageStreamEvent], request: ModelRequest
) -> Decision:
    parser = DecisionStreamParser(request.answer)
    tool_block: int | None = None
    input_tokens = output_tokens = 0
    stop_reason: str | None = None
    try:
        async for event in stream:
            if event.type == "message_start":
                input_tokens = _input_tokens(event.message.usage)
                output_tokens = event.message.usage.output_tokens
            elif event.type == "content_block_start":
                block = event.content_block
                if block.type == "tool_use" and block.name == _TOOL and tool_block is None:
                    tool_block = event.index
            elif event.type == "content_block_delta":
                if event.index == tool_block and event.delta.type == "input_json_delta":
                    await parser.feed(event.delta.partial_json)
            elif event.type == "message_delta":
                if event.usage.input_tokens is not None:  # counts are cumulative
                    input_tokens = _input_tokens(event.usage)
                output_tokens = event.usage.output_tokens
                stop_reason = event.delta.stop_reason or stop_reason
    finally:
        request.usage.add(input_tokens, output_tokens)
    await parser.close()
    if tool_block is None:
        raise ModelOutputError(f"the model did not call {_TOOL} (stop reason {stop_reason})")
    try:
        return Decision.parse(parser.text)
    except ModelOutputError as exc:
        if stop_reason == "max_tokens":
            raise ModelOutputError("the decision was cut off at max_tokens") from exc
        raise
