"""A model call that reports what it cost: the ``usage`` event after it."""

from __future__ import annotations

import time

from .. import _tracing
from ..events import _emit_usage
from ..exceptions import ModelOutputError
from ..models import Decision, Model, ModelRequest
from ._run_context import get_run_context

__all__ = ("decide",)


async def decide(model: Model, request: ModelRequest) -> Decision:
    """``model.decide(request)``, then a ``usage`` event with the tokens the call added to
    ``request.usage`` (also for unusable output: those tokens were spent too), when the model
    reports any and the stream takes ``usage`` events. Its metadata names the model."""
    usage = request.usage
    before = usage.input_tokens, usage.output_tokens
    name = getattr(model, "name", None) or type(model).__name__
    started = time.perf_counter()
    with _tracing.chat_span(
        name, provider(model), request.agent_name, request.component
    ) as span:  # (a failure marks the span failed on the way out)
        try:
            decision = await model.decide(request)
        except ModelOutputError:
            await _report(name, request, before, span)
            raise
        finally:
            _timed(name, time.perf_counter() - started)
        await _report(name, request, before, span)
    return decision


def _timed(name: str, seconds: float) -> None:
    """Tell the run's observer (a server's metrics), if it has one, how long the call took."""
    context = get_run_context()
    if context is not None and context.on_model_call is not None:
        context.on_model_call(name, seconds)


def provider(model: Model) -> str | None:
    """Who serves the model (``gen_ai.provider.name``): the model's ``provider`` if it says,
    else ``openai``/``anthropic`` for masai's own clients of those APIs."""
    given = getattr(model, "provider", None)
    if isinstance(given, str):
        return given
    module = type(model).__module__
    if module.startswith("masai.models."):
        last = module.rsplit(".", 1)[1]
        if last in ("openai", "anthropic"):
            return last
    return None


async def _report(
    name: str, request: ModelRequest, before: tuple[int, int], span: _tracing.Span
) -> None:
    usage = request.usage
    prompt, completion = usage.input_tokens - before[0], usage.output_tokens - before[1]
    if prompt or completion:
        span.set(_tracing.usage(prompt, completion))
        await _emit_usage(prompt, completion, {"model": name, "component": request.component})
