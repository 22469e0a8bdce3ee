"""What one multi-agent run owns: its context, shared memory, chain of agents and answers.

Created per call and dropped at the end, so two concurrent runs on one ``MultiAgentSystem``
share nothing; the shared memory's namespace is the run id and is cleared when the run ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from .._context import scoped
from .._updates import unwrap_state
from ..agents import Agent, AgentDetails, RunContext
from ..events import emit_event
from ..memory import SharedMemory, SharedStore

__all__ = ("MasRun", "handoff_task")

END = "__end__"
LIMIT_NOTES = {
    "max_hops": "the limit of {n} hand-offs between agents was reached",
    "delegation_cycle": "the agents kept handing the task back and forth",
    "max_rounds": "the supervisor's limit of {n} rounds was reached",
}


@dataclasses.dataclass(kw_only=True)
class MasRun:
    query: str
    ctx: RunContext
    chain: list[str] = dataclasses.field(default_factory=list)
    answers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    last_state: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    stop_reason: str | None = None
    #: MASAI's ``task_id`` of a hierarchical run (and the shared memory's namespace).
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    #: A direct in-process call (no caller-given context): MASAI's per-system memory applies.
    direct: bool = False

    @classmethod
    def start(
        cls,
        query: str,
        *,
        session_id: str | None,
        coworkers: Mapping[str, AgentDetails],
        store: SharedStore,
        root: tuple[str, ...] = (),
        base: RunContext | None = None,
    ) -> MasRun:
        run_id = uuid.uuid4().hex
        shared = SharedMemory(store, namespace=f"mas:{run_id}")
        direct = base is None
        base = base if base is not None else RunContext()
        ctx = base.child(
            session_id=session_id or base.session_id,
            shared=shared,
            coworkers=dict(coworkers),
            agent_path=root or base.agent_path,
        )
        return cls(query=query, ctx=ctx, run_id=run_id, direct=direct)

    @contextlib.contextmanager
    def scope(self, agent: str | None, node: str | None = None) -> Iterator[None]:
        """Emit as ``agent`` at its place in the chain (entered per step, never across a yield)."""
        path = (*self.ctx.agent_path, *self.chain)
        with scoped(agent=agent, node=node, agent_path=path, run=self.ctx):
            yield

    async def run_agent(
        self, agent: Agent, task: str, passed_from: str, *, intermediate: bool = False
    ) -> AsyncIterator[tuple[str, Any]]:
        """Run one agent at the end of the chain, passing its updates through.
        ``intermediate``: its answer feeds another agent, not the user."""
        context = self.ctx.child(
            agent_path=(*self.ctx.agent_path, *self.chain[:-1]), intermediate=intermediate
        )
        state: Mapping[str, Any] = {}
        async for update in agent.initiate_agent_astream(
            task, passed_from, session_id=self.ctx.session_id, context=context
        ):
            state = unwrap_state(update)
            yield update
        self.last_state = state
        answer = state.get("answer") or ""
        if answer:
            self.answers.append((agent.name, answer))
            with self.scope(agent.name):
                await self.ctx.shared.set(f"answer:{agent.name}", answer)

    async def handoff(self, from_agent: str, to_agent: str, reason: str) -> None:
        with self.scope(from_agent):
            await emit_event(
                "handoff", {"from_agent": from_agent, "to_agent": to_agent, "reason": reason}
            )

    async def stop(self, reason: str, agent: str | None, limit: int | None = None) -> None:
        """End the run on a limit: say so in an answer event carrying the reason."""
        self.stop_reason = reason
        note = f"I stopped before finishing: {LIMIT_NOTES[reason].format(n=limit)}."
        best = self.answers[-1][1] if self.answers else ""
        answer = f"{best}\n\n{note}" if best else note
        self.last_state = {**self.last_state, "answer": answer, "satisfied": False}
        with self.scope(agent):  # the run's answer: what the user gets
            await emit_event(
                "answer",
                {"answer": answer, "satisfied": False, "stop_reason": reason},
                {"stop_reason": reason, "final": True},
            )

    async def final(self, mode: str) -> tuple[str, dict[str, Any]]:
        """The run's result: MASAI's (the last agent's state: ``answer``, ``messages``,
        ``current_node``, …, plus ``last_agent``; a hierarchical run's ``status``, ``task_id``
        and ``original_query``) and masai's (``chain``, ``answers``, ``stop_reason``, …)."""
        state = self.last_state
        shared = await self.ctx.shared.items()
        await self.ctx.shared.clear()
        agent = self.chain[-1] if self.chain else None
        stop_reason = self.stop_reason or state.get("stop_reason") or "completed"
        masai_shape: dict[str, Any] = {**state, "messages": list(state.get("messages", ()))}
        if mode == "hierarchical":
            failed = stop_reason in LIMIT_NOTES or not state.get("satisfied", False)
            masai_shape.update(
                status="failed" if failed else "completed",
                task_id=self.run_id,
                original_query=self.query,
            )
            if failed:
                masai_shape["error"] = str(state.get("answer") or stop_reason)
        return "updates", {
            END: {
                **masai_shape,
                "last_agent": agent,
                "mode": mode,
                "answer": state.get("answer", ""),
                "reasoning": state.get("reasoning", ""),
                "satisfied": bool(state.get("satisfied", False)),
                "stop_reason": stop_reason,
                "agent": agent,
                "chain": list(self.chain),
                "answers": [{"agent": a, "answer": t} for a, t in self.answers],
                "shared_memory": shared,
                "session_id": self.ctx.session_id,
                "usage": {
                    "input_tokens": self.ctx.usage.input_tokens,
                    "output_tokens": self.ctx.usage.output_tokens,
                },
            }
        }


def handoff_task(
    *,
    query: str,
    from_agent: str,
    reasoning: str,
    answers: list[tuple[str, str]],
    keep: int,
    instruction: str,
) -> str:
    """The structured context a receiving agent gets: who passed it, why, what is known."""
    lines = [f"TASK PASSED TO YOU BY {from_agent}.", f"Their reasoning: {reasoning or '(none)'}"]
    recent = answers[-keep:] if keep > 0 else []
    if recent:
        lines.append("Answers so far:")
        lines += [f"- {agent}: {answer}" for agent, answer in recent]
    lines += [f"Original question: {query}", instruction]
    return "\n".join(lines)
