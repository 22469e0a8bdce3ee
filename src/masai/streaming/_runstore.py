"""What is known about each run (status, times, answer), looked up by (owner, run id).

The owner is part of every look-up: another principal's run id is simply not found, which is
also what lets clients choose their own run ids. A finished run is kept for its retention
period; after that it is a tombstone, so a late look-up says "gone" (410), not "never was".

``RunStore`` is the interface, ``InMemoryRunStore`` the in-process implementation; a Redis
store keeps the same records as hashes.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import OrderedDict
from typing import Any, Literal, Protocol

from ..exceptions import MasaiError

__all__ = (
    "FINISHED",
    "InMemoryRunStore",
    "RunExists",
    "RunGone",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "RunStore",
)

RunStatus = Literal["queued", "running", "waiting", "completed", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
OnDisconnect = Literal["cancel", "continue"]


class RunNotFound(MasaiError, LookupError):
    public_message = "There is no such run."
    code = "not_found"


class RunGone(MasaiError, LookupError):
    public_message = "The run is no longer kept."
    code = "gone"


class RunExists(MasaiError):
    public_message = "A run with that id exists already."
    code = "conflict"


@dataclasses.dataclass(kw_only=True)
class RunRecord:
    """One run, as ``GET /runs/{id}`` shows it (``public()``), plus what the server needs."""

    run_id: str
    owner: str
    target: str
    status: RunStatus = "queued"
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    stop_reason: str | None = None
    answer: str | None = None
    #: Tokens the run's models used, once it finished: ``{input_tokens, output_tokens}`` (a
    #: viewer in another process than the run's learns them here).
    usage: dict[str, int] | None = None
    event_count: int = 0
    on_disconnect: OnDisconnect = "continue"
    session_id: str | None = None
    #: Tool calls waiting for a decision: call id -> {tool_name, arguments}.
    pending_approvals: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Tool calls decided already (a second decision is a conflict).
    decided_approvals: set[str] = dataclasses.field(default_factory=set)
    #: What every chunk of the run says it is (``model``, ``created``): a viewer's role chunk.
    model: str = "mas-ai-general"
    created: int = 0
    #: The run's storage key (log, control): unique across owners, unlike ``run_id``.
    key: str = dataclasses.field(default_factory=lambda: secrets.token_hex(16))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """Every field, as plain JSON types (``decided_approvals`` as a sorted list): what a
        store outside the process keeps."""
        data = dataclasses.asdict(self)
        data["decided_approvals"] = sorted(self.decided_approvals)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """The record ``to_dict`` gave; fields it does not know are ignored, so a record saved
        by a newer version still loads."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        values["decided_approvals"] = set(values.get("decided_approvals") or ())
        values["pending_approvals"] = dict(values.get("pending_approvals") or {})
        return cls(**values)

    def public(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stop_reason": self.stop_reason,
            "answer": self.answer,
            "usage": self.usage,
            "event_count": self.event_count,
            "pending_approvals": [
                {"tool_call_id": call_id, **call}
                for call_id, call in self.pending_approvals.items()
            ],
        }


class RunStore(Protocol):
    async def create(self, record: RunRecord) -> None:
        """Add a run; ``RunExists`` if its owner has a run (or a tombstone) with that id."""

    async def get(self, owner: str, run_id: str) -> RunRecord:
        """``RunNotFound`` (never existed, or another owner's), ``RunGone`` (expired)."""

    async def update(self, record: RunRecord) -> None:
        """Save a changed record (status, times, answer, approvals)."""

    async def list(
        self, owner: str, status: RunStatus | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """The owner's kept runs, newest first."""

    async def expire(self, owner: str, run_id: str) -> None:
        """Forget the run; later look-ups are ``RunGone``."""


class InMemoryRunStore:
    """Records in a dict; the records themselves are shared with the run (updated in place).

    ``max_tombstones`` bounds how many expired ids are remembered as gone (oldest forgotten
    first): after that an expired id is simply unknown."""

    def __init__(self, *, max_tombstones: int = 100_000) -> None:
        self._runs: dict[tuple[str, str], RunRecord] = {}
        self._gone: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._max_tombstones = max_tombstones

    async def create(self, record: RunRecord) -> None:
        ident = (record.owner, record.run_id)
        if ident in self._runs or ident in self._gone:
            raise RunExists(f"run {record.run_id!r} exists already")
        self._runs[ident] = record

    async def get(self, owner: str, run_id: str) -> RunRecord:
        record = self._runs.get((owner, run_id))
        if record is not None:
            return record
        if (owner, run_id) in self._gone:
            raise RunGone(f"run {run_id!r} is no longer kept")
        raise RunNotFound(f"no run {run_id!r}")

    async def update(self, record: RunRecord) -> None:
        ident = (record.owner, record.run_id)
        if ident in self._runs:
            self._runs[ident] = record

    async def list(
        self, owner: str, status: RunStatus | None = None, limit: int = 100
    ) -> list[RunRecord]:
        mine = [
            r
            for (o, _), r in self._runs.items()
            if o == owner and (status is None or r.status == status)
        ]
        mine.sort(key=lambda r: r.created_at, reverse=True)
        return mine[:limit]

    async def expire(self, owner: str, run_id: str) -> None:
        ident = (owner, run_id)
        if self._runs.pop(ident, None) is None:
            return
        self._gone[ident] = None
        while len(self._gone) > self._max_tombstones:
            self._gone.popitem(last=False)

    def __len__(self) -> int:
        return len(self._runs)
