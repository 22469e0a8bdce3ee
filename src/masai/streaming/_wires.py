"""Every wire protocol by name, with an encoder for one viewer of a run: what ``masai run
--wire`` prints, so a front-end developer sees the exact frames a route would send."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._agui import AgUiEncoder
from ._chat import ChatEncoder
from ._responses import ResponsesEncoder
from ._spec import SpecEncoder
from ._uistream import UIStreamEncoder

if TYPE_CHECKING:
    from ._encoding import Encoder
    from ._runstore import RunRecord

__all__ = ("WIRES", "wire_encoder")


def _chat(record: RunRecord, debug: bool) -> Encoder:
    return ChatEncoder(
        record.target, f"chatcmpl-{record.run_id}", record.created,
        include_usage=True, include_agent_events=True, debug=debug,
    )  # fmt: skip


def _responses(record: RunRecord, debug: bool) -> Encoder:
    return ResponsesEncoder(
        record.run_id, record.target, record.created, include_agent_events=True, debug=debug
    )


def _agui(record: RunRecord, debug: bool) -> Encoder:
    return AgUiEncoder(record.session_id or record.run_id, record.run_id, debug=debug)


def _uistream(record: RunRecord, debug: bool) -> Encoder:
    metadata = {"run_id": record.run_id, "target": record.target}
    return UIStreamEncoder(f"msg-{record.run_id}", metadata=metadata, debug=debug)


def _spec(record: RunRecord, debug: bool) -> Encoder:
    return SpecEncoder.of_record(record)


_FACTORIES: dict[str, Callable[[RunRecord, bool], Encoder]] = {
    "spec": _spec,
    "openai-chat": _chat,
    "openai-responses": _responses,
    "ag-ui": _agui,
    "ai-sdk": _uistream,
}

#: The protocols' names, as ``masai run --wire`` takes them.
WIRES: tuple[str, ...] = tuple(_FACTORIES)


def wire_encoder(wire: str, record: RunRecord, *, debug: bool = False) -> Encoder:
    """An encoder of ``wire`` (one of ``WIRES``) for a viewer of ``record``'s run; the
    OpenAI protocols include the agent events (their opt-in extension)."""
    try:
        factory = _FACTORIES[wire]
    except KeyError:
        raise ValueError(f"unknown wire protocol {wire!r}; one of {', '.join(WIRES)}") from None
    return factory(record, debug)
