"""OpenAI Chat Completions, and every server that speaks it (Azure, Ollama, vLLM, llama.cpp,
LM Studio), as a masai ``Model``.

It always streams: the decision's ``answer`` reaches the client token by token while the model
writes it, which is the point of masai. The SDK is imported on first use so ``masai`` works
without it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ConfigError, ModelOutputError
from ._base import Decision, Message, Model, ModelRequest, ToolCallRequest
from ._partial_json import DecisionStreamParser
from ._retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    check_params,
    connection_failure,
    status_failure,
    stream_error_failure,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

__all__ = ("OpenAIModel",)

Mode = Literal["json_schema", "json_object", "tools"]
_MODES = ("json_schema", "json_object", "tools")
_DELEGATE = "delegate_to_agent"
_RESERVED = ("model", "messages", "stream", "stream_options", "response_format")
#: Local OpenAI-compatible servers want no key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


def _sdk() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise ConfigError("OpenAIModel needs the OpenAI SDK: pip install 'masai[openai]'") from exc
    return openai


class OpenAIModel(Model):
    """A model behind the Chat Completions API, streaming its decision as it is generated.

    ``mode`` picks how the decision is obtained: ``"json_schema"`` (structured outputs; the
    answer streams live), ``"json_object"`` (JSON mode, for servers without structured
    outputs) or ``"tools"`` (native tool calling, for models that are better at it than at
    JSON). Extra keyword arguments go to ``chat.completions.create`` unchanged.
    """

    def __init__(
        self,
        model_name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        azure_deployment: str | None = None,
        mode: Mode = "json_schema",
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: AsyncOpenAI | None = None,
        **params: Any,
    ) -> None:
        if mode not in _MODES:
            raise ConfigError(f"OpenAIModel mode must be one of {_MODES}, not {mode!r}")
        if max_retries < 0:
            raise ConfigError("max_retries must be 0 or more")
        self.name = model_name
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.params = params
        #: How failed calls are retried (replace it to tune backoff).
        self.retry = RetryPolicy(max_retries=max_retries)
        self._owns_client = client is None
        self.client: AsyncOpenAI = client or _make_client(
            model_name,
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            azure_endpoint=azure_endpoint,
            api_version=api_version,
            azure_deployment=azure_deployment,
            timeout=timeout,
        )
        check_params(self.client.chat.completions.create, params, _RESERVED, type(self).__name__)

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
            label=f"OpenAI model {self.name!r}",
            secrets=(self.client.api_key,),
        )

    async def _attempt(self, request: ModelRequest) -> Decision:
        stream = await self.client.chat.completions.create(
            model=self.name,
            messages=self._messages(request),
            stream=True,
            stream_options={"include_usage": True},
            **self._options(request),
        )
        async with stream:
            if self.mode == "tools":
                return await _read_tool_calls(stream, request)
            return await _read_json(stream, request)

    def _messages(self, request: ModelRequest) -> list[ChatCompletionMessageParam]:
        messages = list(request.messages)
        if self.mode == "json_object":  # JSON mode guarantees JSON, not its shape: describe it
            schema = json.dumps(request.output_schema, ensure_ascii=False)
            note = (
                "Reply with one JSON object, and nothing else, that follows this JSON schema "
                f"(keys in this order): {schema}"
            )
            # After the leading system messages: some chat templates reject later ones.
            at = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
            messages.insert(at, Message("system", note))
        return [_message(m) for m in messages]

    def _options(self, request: ModelRequest) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.max_tokens is not None:
            # OpenAI's own API wants the newer name; compatible servers know the older one.
            name = "max_completion_tokens" if self._is_openai_api else "max_tokens"
            options[name] = self.max_tokens
        if self.mode == "json_schema":
            schema = request.output_schema
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "decision", "strict": True, "schema": schema},
            }
        elif self.mode == "json_object":
            options["response_format"] = {"type": "json_object"}
        elif tools := _tools(request):
            options["tools"] = tools
            options["parallel_tool_calls"] = request.parallel_tool_calls
        return {**options, **self.params}

    @property
    def _is_openai_api(self) -> bool:
        return self.client.base_url.host == "api.openai.com"


def _make_client(
    model_name: str,
    *,
    api_key: str | None,
    base_url: str | None,
    organization: str | None,
    azure_endpoint: str | None,
    api_version: str | None,
    azure_deployment: str | None,
    timeout: float,
) -> AsyncOpenAI:
    openai = _sdk()
    try:
        if azure_endpoint is not None or azure_deployment is not None:
            client: AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=azure_endpoint,
                azure_deployment=azure_deployment,
                base_url=base_url,  # e.g. a gateway in front of Azure (not with azure_endpoint)
                api_version=api_version,
                api_key=api_key,
                organization=organization,
                timeout=timeout,
                max_retries=0,
            )
            return client
        if api_key is None and base_url is not None and not os.environ.get("OPENAI_API_KEY"):
            api_key = _PLACEHOLDER_KEY
        client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            timeout=timeout,
            max_retries=0,
        )
        return client
    except (openai.OpenAIError, ValueError) as exc:
        raise ConfigError(f"OpenAIModel {model_name!r}: {exc}") from exc


def _message(m: Message) -> ChatCompletionMessageParam:
    if m.role == "system":
        return {"role": "system", "content": m.content}
    if m.role == "user":
        return {"role": "user", "content": m.content}
    return {"role": "assistant", "content": m.content}


def _tools(request: ModelRequest) -> list[dict[str, Any]]:
    tools = [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": dict(spec.parameters),
            },
        }
        for spec in request.tools
    ]
    if request.delegates:
        parameters = {
            "type": "object",
            "properties": {
                "agent": {"type": "string", "enum": list(request.delegates)},
                "reason": {"type": "string", "description": "Why they should take it over."},
            },
            "required": ["agent", "reason"],
            "additionalProperties": False,
        }
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": _DELEGATE,
                    "description": "Hand the task to a co-worker agent you cannot finish it "
                    "without.",
                    "parameters": parameters,
                },
            }
        )
    return tools


def _classify(exc: Exception) -> Failure | None:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return status_failure(exc.status_code, exc.response.headers, exc.body, exc.message)
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return connection_failure(exc)
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return stream_error_failure(exc.body, exc.message)
    if isinstance(exc, openai.OpenAIError):
        return Failure(f"{type(exc).__name__}: {exc}", retryable=False)
    return None


def _record_usage(chunk: ChatCompletionChunk, request: ModelRequest) -> None:
    if chunk.usage is not None:
        request.usage.add(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)


def _parse(text: str, finish_reason: str | None) -> Decision:
    try:
        return Decision.parse(text)
    except ModelOutputError as exc:
        if finish_reason == "length":
            raise ModelOutputError("the decision was cut off at max_tokens") from exc
        raise


async def _read_json(stream: AsyncStream[ChatCompletionChunk], request: ModelRequest) -> Decision:
    parser = DecisionStreamParser(request.answer)
    finish_reason: str | None = None
    refusal = ""
    async for chunk in stream:
        _record_usage(chunk, request)
        for choice in chunk.choices:
            if choice.delta.content:
                await parser.feed(choice.delta.content)
            refusal += choice.delta.refusal or ""
            finish_reason = choice.finish_reason or finish_reason
    await parser.close()
    if refusal and not parser.text:
        raise ModelOutputError(f"the model refused: {refusal}")
    return _parse(parser.text, finish_reason)


@dataclasses.dataclass(slots=True)
class _Call:
    name: str = ""
    arguments: str = ""


async def _read_tool_calls(
    stream: AsyncStream[ChatCompletionChunk], request: ModelRequest
) -> Decision:
    calls: dict[int, _Call] = {}
    content = ""
    async for chunk in stream:
        _record_usage(chunk, request)
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                content += delta.content
                # Whether this text is the final answer is unknown until the stream ends;
                # the AnswerStream holds it until then.
                await request.answer.delta(delta.content)
            for fragment in delta.tool_calls or ():
                call = calls.setdefault(fragment.index, _Call())
                if fragment.function is not None:
                    call.name += fragment.function.name or ""
                    call.arguments += fragment.function.arguments or ""
    return _tool_decision([calls[i] for i in sorted(calls)], content)


def _arguments(call: _Call) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ModelOutputError(f"arguments of {call.name!r} are not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelOutputError(f"arguments of {call.name!r} are not a JSON object")
    return value


def _tool_decision(calls: list[_Call], content: str) -> Decision:
    if any(not call.name for call in calls):
        raise ModelOutputError("a tool call came without a function name")
    tool_calls = [c for c in calls if c.name != _DELEGATE]
    if tool_calls:  # tools first; a hand-off can still come next turn
        requests = [ToolCallRequest(tool=c.name, tool_input=_arguments(c)) for c in tool_calls]
        if len(requests) == 1:
            only = requests[0]
            return Decision(reasoning=content, tool=only.tool, tool_input=only.tool_input)
        return Decision(reasoning=content, tool_calls=tuple(requests))
    if calls:
        args = _arguments(calls[0])
        agent = args.get("agent")
        if not isinstance(agent, str) or not agent:
            raise ModelOutputError(f"{_DELEGATE} needs an agent name")
        reason = args.get("reason")
        return Decision(
            reasoning=content or (reason if isinstance(reason, str) else ""),
            satisfied=True,
            delegate_to_agent=agent,
        )
    return Decision(satisfied=True, answer=content)
