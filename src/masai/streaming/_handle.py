"""One run as the process executing it sees it (``RunHandle``): the Python API on a run, and
the run's approvals channel, which records what waits for a person and hands a decision to the
waiting tool call. Also the errors of acting on runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..agents import ApprovalDecision, ApprovalRequest, ApprovalTimeout
from ..events import StreamingEvent
from ..exceptions import MasaiError, RunCancelled
from ._control import ControlMessage
from ._log import LogEntry
from ._runstore import RunRecord, RunStatus
from ._spec import SpecEncoder
from ._stream import EventStream
from .handlers import EnhancedStreamHandler

if TYPE_CHECKING:
    from ._runs import Runs

logger = logging.getLogger("masai.runs")

#: How often a call waiting for approval looks for a decision kept for it (see ``_recall``).
RECALL_INTERVAL = 1.0
#: How long a cancel that asks to wait is answered after at most (below a remote sender's
#: reply timeout; the sender then watches the run's record).
CANCEL_REPLY_WAIT = 4.0

__all__ = ("ApprovalConflict", "ApprovalNotFound", "RunFinished", "RunHandle")


class RunFinished(MasaiError):
    public_message = "The run has finished already."
    code = "conflict"


class ApprovalNotFound(MasaiError, LookupError):
    public_message = "The run has no such tool call waiting for approval."
    code = "not_found"


class ApprovalConflict(MasaiError):
    public_message = "That tool call was decided already."
    code = "conflict"


class RunHandle:
    """One live or finished run, for the process that started it."""

    def __init__(self, runs: Runs, record: RunRecord, handler: EnhancedStreamHandler) -> None:
        self.runs = runs
        self.record = record
        self.handler = handler
        self.stream: EventStream | None = None
        self.encoder: SpecEncoder | None = None
        #: Set once the run's terminal entry is in its log.
        self.finished = asyncio.Event()
        #: Given up by this process (another worker has taken the run over): it is stopped
        #: and writes nothing more.
        self.abandoned = False
        #: A decision made while no process executed the run, by tool call id (a worker that
        #: takes a run over finds decisions sent to the lost one here).
        self.recall: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None
        self._waiting: dict[str, tuple[ApprovalRequest, asyncio.Future[ApprovalDecision]]] = {}

    @property
    def run_id(self) -> str:
        return self.record.run_id

    # -- Python API ------------------------------------------------------------------------
    async def entries(self, after: int = -1) -> AsyncIterator[LogEntry]:
        """Every log entry after ``after`` (the terminal one last), live until the end."""
        async for batch in self.runs.follow(self.record.owner, self.run_id, after):
            for entry in batch.entries():
                yield entry

    async def events(self, after: int = -1) -> AsyncIterator[StreamingEvent]:
        """The run's events after ``after`` (a failed run's ``error`` event last), decoded
        from the log's frames: the same events a remote client decodes."""
        async for entry in self.entries(after):
            if (event := entry.event) is not None:
                yield event

    async def approve(
        self,
        tool_call_id: str,
        approved: bool = True,
        *,
        reason: str | None = None,
        arguments: dict[str, Any] | None = None,
        by: str | None = None,
    ) -> RunRecord:
        return await self.runs.approve(
            self.record.owner,
            self.run_id,
            tool_call_id,
            approved=approved,
            reason=reason,
            arguments=arguments,
            by=by,
        )

    async def cancel(self, *, wait: bool = True) -> RunRecord:
        return await self.runs.cancel(self.record.owner, self.run_id, wait=wait)

    async def wait(self) -> RunRecord:
        await self.finished.wait()
        return self.record

    def interrupt(self, error: BaseException) -> None:
        """Stop the run from outside with ``error`` as its outcome (shutdown, cancel)."""
        if self.stream is not None:
            self.stream.interrupt(error)

    # -- Approvals (the run's channel to whoever decides) ----------------------------------
    def ask(self, request: ApprovalRequest) -> asyncio.Future[ApprovalDecision]:
        """Record the call as waiting (from now: a decision may come as soon as its
        ``approval_required`` event shows) and return the future of the decision."""
        decision: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        call_id = request.tool_call_id
        self._waiting[call_id] = (request, decision)
        self.record.pending_approvals[call_id] = {
            "tool_name": request.tool_name,
            "arguments": request.arguments,
        }
        waiting = asyncio.ensure_future(self._wait(request, decision))
        waiting.add_done_callback(lambda _: self._settled(call_id))
        if self.recall is not None:
            self.runs.spawn(self._recall(call_id))
        return waiting

    def abandon(self) -> None:
        """Stop the run without writing its end: another process has it now."""
        self.abandoned = True
        self.interrupt(RunCancelled(f"run {self.run_id} was taken over"))

    async def _recall(self, call_id: str) -> None:
        """While the call waits, look for a decision kept for it now and then: one made while
        no process listened (before a take-over), or whose message was lost on the way."""
        assert self.recall is not None
        while call_id in self._waiting:
            body = await self.recall(call_id)
            if body is not None and call_id in self._waiting:
                try:
                    await self._decide(ControlMessage(kind="approval", body=body))
                except MasaiError as exc:  # (decided meanwhile, or arguments refused)
                    logger.warning("run %s: a kept decision not applied: %s", self.run_id, exc)
                return
            await asyncio.sleep(RECALL_INTERVAL)

    async def _wait(
        self, request: ApprovalRequest, decision: asyncio.Future[ApprovalDecision]
    ) -> ApprovalDecision:
        if self.record.status == "waiting":  # (another call waits too: save the new one)
            await self.runs.store.update(self.record)
        await self._set_status("waiting")
        timeout = request.timeout if request.timeout is not None else self.runs.approval_timeout
        try:
            return await asyncio.wait_for(decision, timeout)
        except TimeoutError:
            raise ApprovalTimeout(
                f"no decision on {request.tool_name} ({request.tool_call_id}) in {timeout:g} s"
            ) from None

    def _settled(self, call_id: str) -> None:
        """The call is decided, timed out or withdrawn (even before its wait began)."""
        self._waiting.pop(call_id, None)
        record = self.record
        record.pending_approvals.pop(call_id, None)
        if not record.pending_approvals and record.status == "waiting":
            self.runs.spawn(self._set_status("running"))

    async def _decide(self, message: ControlMessage) -> RunRecord:
        body = message.body
        call_id = str(body["tool_call_id"])
        if call_id in self.record.decided_approvals:
            raise ApprovalConflict(f"tool call {call_id} was decided already")
        waiting = self._waiting.get(call_id)
        if waiting is None:
            raise ApprovalNotFound(f"no tool call {call_id} is waiting for approval")
        request, decision = waiting
        arguments = body.get("arguments")
        if arguments is not None:
            arguments = request.validate(arguments)  # ToolArgumentsError: refused, still waiting
        if decision.done():
            raise ApprovalConflict(f"tool call {call_id} was decided already")
        self.record.decided_approvals.add(call_id)
        decision.set_result(
            ApprovalDecision(
                approved=bool(body["approved"]),
                reason=body.get("reason"),
                arguments=arguments,
                decided_by=message.sender,
            )
        )
        return self.record

    async def on_message(self, message: ControlMessage) -> RunRecord:
        if message.kind == "cancel":
            who = f" by {message.sender}" if message.sender else ""
            self.interrupt(RunCancelled(f"run {self.run_id} was cancelled{who}"))
            if message.body.get("wait"):  # (the sender waits for the end: answer then)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.finished.wait(), CANCEL_REPLY_WAIT)
            return self.record
        return await self._decide(message)

    async def _set_status(self, status: RunStatus) -> None:
        if self.record.status != status and not self.record.finished:
            self.record.status = status
            await self.runs.store.update(self.record)
