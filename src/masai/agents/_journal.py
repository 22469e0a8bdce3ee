"""A run's step journal: what makes a run durable when the worker running it dies.

A worker may be killed (``kill -9``) in the middle of a run. Another worker then runs the same
run again from the start, with the first attempt's journal: every step that completed (a model
decision, a tool result) was written down as it happened, so the re-run takes the recorded
result instead of calling the model or the tool again, and arrives, without side effects, at
the point where the first attempt stopped. From there on it runs live.

The journal is a list of JSON-able entries, in the order they were written. The runtime hands
each new one to ``save`` and awaits it before the step's result is used, so nothing a later
step depends on is missing from storage. The entries (``kind`` says which):

``{"kind": "decision", "scope": str, "n": int, "decision": {…}, "call_ids": [str, …],
"note": str | None, "usage": [int, int]}``
    A model decision. Its key is ``(scope, n)``: ``scope`` is the tool call the deciding agent
    runs inside (``""`` at the top level), ``n`` counts the decisions made under that scope.
    Decisions under one scope follow each other (an agent decides, acts, decides again; the
    agents of a multi-agent run take turns), so the key is the same in every attempt. The
    entry keeps the ids of the tool calls the decision asks for: ids are made when the
    decision is, so a re-run reuses each call's ``tool_call_id`` (clients and approvals refer
    to calls by id), and calls running in parallel are keyed deterministically whichever
    finishes first. ``note`` is what the model is told when its output was unusable;
    ``usage`` the tokens the call cost (added to the run's usage again on replay).

``{"kind": "tool", "id": str, "output": str, "shown": str, "is_error": bool, "truncated": bool}``
    A tool call's result, keyed by its call id: the text for the model, the text for the
    client, whether it failed, whether it was cut to the output limit.

``{"kind": "started", "id": str}``
    Written just before a tool that is not ``idempotent`` runs (after any approval). A call
    started but without a result was interrupted: it may or may not have taken effect (the
    payment may have gone out), so a re-run does not run it again but fails with
    ``ToolInterrupted``. An idempotent tool (the default) interrupted mid-call simply runs
    again, with the same call id.

``{"kind": "resume", "seq": int}``
    A resume point, written after each completed top-level step (a decision, or a whole batch
    of tool calls) of a run not nested inside a tool call. ``seq`` is ``position()`` then: the
    ``seq`` the next event of the stream gets.

Events: a re-run emits the events of the recorded steps again. The clients already got them,
so while ``replaying`` is true the sink (the worker's) drops them. Replay ends when the re-run
has passed as many resume points as were recorded; then the journal calls ``on_live`` once with
the last recorded resume point's seq (-1 if there was none, at the first run start): the
first attempt's events from that seq on were delivered, but the re-run emits them again live,
so the worker retracts them there (a ``retracted`` event). Recorded steps are never executed
again, even after replay ended: a parallel batch interrupted half-way returns its recorded
results live (their events emitted again) and runs only the calls that had none.

A re-run reproduces the first attempt only as far as the run is determined by its decisions
and tool results: a run deadline that expired, or a tool's effects on shared memory, are not
recorded. Without a journal (``RunContext.journal`` is ``None``) the runtime does none of this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._context import current_scope
from .._sinks import new_tool_call_id
from ..exceptions import MasaiError
from ..models import Decision, Usage

__all__ = ("Journal", "ToolInterrupted")

#: What a journaled tool call returns: (output for the model, output for the client, failed,
#: truncated to the output limit).
ToolOutcome = tuple[str, str, bool, bool]
#: What a journaled model call returns: the decision and what to tell the model about it.
Decided = tuple[Decision, str | None]


class ToolInterrupted(MasaiError):
    """A tool that must not run twice was interrupted mid-call by a crash; running it again
    could repeat its effect, and whether it took effect is unknown, so the run ends here."""

    public_message = "A tool call was interrupted and cannot safely run again."
    code = "tool_interrupted"


def _nowhere() -> int:
    return 0


class Journal:
    """The step journal of one run (of every agent in it: nested runs share it).

    ``entries``: what earlier attempts passed to ``save``, loaded back in order (empty for a
    first attempt). ``save(entry)``: persist one new entry. ``position()``: the ``seq`` the
    next emitted event will get (the worker's stream knows it; default 0). ``on_live(seq)``:
    called once when replay ends (see the module docstring); settable.
    """

    def __init__(
        self,
        entries: Sequence[Mapping[str, Any]] = (),
        *,
        save: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        position: Callable[[], int] | None = None,
        on_live: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._save = save
        self._position = position or _nowhere
        self.on_live = on_live
        self._decisions: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._results: dict[str, Mapping[str, Any]] = {}
        self._started: set[str] = set()
        self._resume_seqs: list[int] = []
        for entry in entries:
            self._load(entry)
        self._recorded_resumes = len(self._resume_seqs)
        self._counters: dict[str, int] = {}
        self._passed = 0
        self._announced = False

    def _load(self, entry: Mapping[str, Any]) -> None:
        kind = entry.get("kind")
        if kind == "decision":
            self._decisions[(str(entry["scope"]), int(entry["n"]))] = entry
        elif kind == "tool":
            self._results[str(entry["id"])] = entry
        elif kind == "started":
            self._started.add(str(entry["id"]))
        elif kind == "resume":
            self._resume_seqs.append(int(entry["seq"]))
        # Anything else is from a newer version: ignored, so old workers can still resume.

    # -- state ---------------------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        """True while the re-run is before the last recorded resume point: the events emitted
        now were delivered by an earlier attempt and are to be dropped."""
        return self._passed < self._recorded_resumes

    @property
    def last_resume_seq(self) -> int:
        """The seq of the latest resume point (recorded or written since), -1 if none."""
        return self._resume_seqs[-1] if self._resume_seqs else -1

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt left entries (this attempt is a re-run)."""
        return bool(self._decisions or self._results or self._started or self._resume_seqs)

    # -- hooks the runtime calls -----------------------------------------------------------------
    async def begin(self) -> None:
        """At the start of every agent run: with no resume point recorded, the re-run is live
        from its first event, and says so before it."""
        if not self._announced and not self.replaying:
            await self._go_live()

    async def decide(
        self, ask: Callable[[Usage], Awaitable[Decided]], usage: Usage
    ) -> tuple[Decision, str | None, tuple[str, ...]]:
        """The decision at this point of the run: recorded, else ``ask(tokens)`` (the model
        call, counting its tokens into ``tokens``) recorded now. Also the ids of its calls."""
        scope = current_scope().tool_call_id or ""
        n = self._counters.get(scope, 0)
        self._counters[scope] = n + 1
        entry = self._decisions.get((scope, n))
        if entry is not None:
            tokens = entry.get("usage") or (0, 0)
            usage.add(int(tokens[0]), int(tokens[1]))
            decision = Decision.model_validate(entry["decision"])
            return decision, entry.get("note"), tuple(entry["call_ids"])
        spent = Usage()
        try:
            decision, note = await ask(spent)
        finally:  # (tokens of a call that failed were spent too)
            usage.add(spent.input_tokens, spent.output_tokens)
        call_ids = tuple(new_tool_call_id() for _ in decision.calls)
        await self._write(
            {
                "kind": "decision",
                "scope": scope,
                "n": n,
                "decision": decision.model_dump(mode="json"),
                "call_ids": list(call_ids),
                "note": note,
                "usage": [spent.input_tokens, spent.output_tokens],
            }
        )
        return decision, note, call_ids

    async def tool(self, call_id: str, run: Callable[[], Awaitable[ToolOutcome]]) -> ToolOutcome:
        """The result of call ``call_id``: recorded, else ``run()`` recorded now.

        Raises ``ToolInterrupted`` for a call that an earlier attempt started (a tool that is
        not idempotent) but did not finish."""
        entry = self._results.get(call_id)
        if entry is not None:
            return (
                str(entry["output"]),
                str(entry["shown"]),
                bool(entry["is_error"]),
                bool(entry.get("truncated", False)),
            )
        if call_id in self._started:
            raise ToolInterrupted(
                f"tool call {call_id} was interrupted while running; its tool is not "
                "idempotent, so it is not run again"
            )
        output, shown, is_error, truncated = await run()
        await self._write(
            {
                "kind": "tool",
                "id": call_id,
                "output": output,
                "shown": shown,
                "is_error": is_error,
                "truncated": truncated,
            }
        )
        return output, shown, is_error, truncated

    async def started(self, call_id: str) -> None:
        """A tool that is not idempotent is about to run call ``call_id``."""
        await self._write({"kind": "started", "id": call_id})

    async def boundary(self) -> None:
        """A step completed. At the top level (not inside a tool call) that is a resume point:
        during replay, one more recorded one passed; live, a new one to write."""
        if current_scope().tool_call_id is not None:
            return
        if self._passed < self._recorded_resumes:  # replaying
            self._passed += 1
            if self._passed == self._recorded_resumes:
                await self._go_live()
            return
        seq = self._position()
        await self._write({"kind": "resume", "seq": seq})
        self._resume_seqs.append(seq)

    # -- internals -----------------------------------------------------------------------------
    async def _go_live(self) -> None:
        self._announced = True
        seq = self._resume_seqs[self._recorded_resumes - 1] if self._recorded_resumes else -1
        if self.on_live is not None:
            await self.on_live(seq)

    async def _write(self, entry: dict[str, Any]) -> None:
        if self._save is not None:
            await self._save(entry)
