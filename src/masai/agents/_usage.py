"""A model call that reports what it cost: the ``usage`` event after it."""

from __future__ import annotations

from ..events import _emit_usage
from ..exceptions import ModelOutputError
from ..models import Decision, Model, ModelRequest

__all__ = ("decide",)


async def decide(model: Model, request: ModelRequest) -> Decision:
    """``model.decide(request)``, then a ``usage`` event with the tokens the call added to
    ``request.usage`` (also for unusable output: those tokens were spent too), when the model
    reports any and the stream takes ``usage`` events. Its metadata names the model."""
    usage = request.usage
    before = usage.input_tokens, usage.output_tokens
    try:
        decision = await model.decide(request)
    except ModelOutputError:
        await _report(model, request, before)
        raise
    await _report(model, request, before)
    return decision


async def _report(model: Model, request: ModelRequest, before: tuple[int, int]) -> None:
    usage = request.usage
    prompt, completion = usage.input_tokens - before[0], usage.output_tokens - before[1]
    if prompt or completion:
        name = getattr(model, "name", None) or type(model).__name__
        await _emit_usage(prompt, completion, {"model": name, "component": request.component})
