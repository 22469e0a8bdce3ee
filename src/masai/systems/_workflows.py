"""The three ways agents work together, as async generators of MASAI-shaped updates.

Each yields every update of every agent as it happens, then ``("updates", {"__end__": final})``.
Everything the client needs is emitted as events on the way (hand-offs, shared-memory writes,
each agent's answer), so all three stream through the same handler with the same vocabulary.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..agents import Agent
from ..agents._usage import decide
from ..agents.agent import StateSnapshot, answer_events
from ..events import emit_event
from ..models import Decision, Message, ModelRequest, Usage
from ._run import MasRun, handoff_task

if TYPE_CHECKING:
    from .mas import MultiAgentSystem

__all__ = ("decentralized", "hierarchical", "sequential")

Update = tuple[str, Any]


async def decentralized(
    mas: MultiAgentSystem,
    run: MasRun,
    entry: Agent,
    *,
    passed_from: str,
    memory_order: int,
    max_hops: int,
    max_repeats: int,
) -> AsyncIterator[Update]:
    """Agents hand the task to each other through ``delegate_to_agent``."""
    agents = mas.agentManager.agents
    current, task, source = entry, run.query, passed_from
    run.chain.append(current.name)
    hops = 0
    pairs: collections.Counter[tuple[str, str]] = collections.Counter()
    while True:
        async for update in run.run_agent(current, task, source):
            yield update
        target = (run.last_state.get("delegate_to_agent") or "").strip().lower()
        if not target:
            return
        hops += 1
        if hops > max_hops:
            await run.stop("max_hops", current.name, max_hops)
            return
        if target not in agents or target == current.name:
            # Recoverable: the agent is told what went wrong and who it can hand off to.
            why = (
                "you cannot hand off to yourself"
                if target == current.name
                else (f"there is no agent named {target!r}")
            )
            valid = sorted(n for n in agents if n != current.name)
            task = (
                f"{run.query}\n\nYour hand-off failed: {why}. You can delegate to one of "
                f"{valid}, or answer yourself."
            )
            source = "system"
            continue
        pairs[(current.name, target)] += 1
        if pairs[(current.name, target)] > max_repeats:
            await run.stop("delegation_cycle", current.name)
            return
        reasoning = str(run.last_state.get("reasoning") or "")
        await run.handoff(current.name, target, reasoning)
        task = handoff_task(
            query=run.query,
            from_agent=current.name,
            reasoning=reasoning,
            answers=run.answers,
            keep=memory_order,
            instruction="Continue the task; hand it on only if someone else is better placed.",
        )
        source, current = current.name, agents[target]
        run.chain.append(current.name)


async def sequential(
    mas: MultiAgentSystem, run: MasRun, sequence: Sequence[Agent], *, memory_order: int
) -> AsyncIterator[Update]:
    """Each agent works on the previous one's output, in a fixed order."""
    del mas
    previous: Agent | None = None
    last = len(sequence) - 1
    for position, agent in enumerate(sequence):
        if previous is None:
            task, source = run.query, "user"
        else:
            await run.handoff(previous.name, agent.name, "next in the sequence")
            task = handoff_task(
                query=run.query,
                from_agent=previous.name,
                reasoning=str(run.last_state.get("reasoning") or ""),
                answers=run.answers,
                keep=memory_order,
                instruction="Process the previous agent's output and continue the task.",
            )
            source = previous.name
        run.chain.append(agent.name)
        async for update in run.run_agent(agent, task, source, intermediate=position < last):
            yield update
        previous = agent


SUPERVISOR = "supervisor"


async def _supervise(mas: MultiAgentSystem, run: MasRun, request: ModelRequest) -> Decision:
    """The supervisor's decision: recorded in the run's journal, if it has one (a re-run
    after a crash takes it from there instead of asking the model again). Its tokens count
    in the run's usage, as every agent's do."""
    assert mas.supervisor is not None
    supervisor, journal = mas.supervisor, run.ctx.journal
    if journal is None:
        return await decide(supervisor, dataclasses.replace(request, usage=run.ctx.usage))

    async def ask(spent: Usage) -> tuple[Decision, str | None]:
        return await decide(supervisor, dataclasses.replace(request, usage=spent)), None

    decision, _, _ = await journal.decide(ask, run.ctx.usage)
    return decision


async def hierarchical(
    mas: MultiAgentSystem, run: MasRun, *, max_rounds: int, return_direct: bool
) -> AsyncIterator[Update]:
    """A supervisor model gives agents sub-tasks, reviews their results, and answers."""
    assert mas.supervisor is not None
    agents = mas.agentManager.agents
    run.chain.append(SUPERVISOR)
    notes: list[Message] = []
    for round_ in range(1, max_rounds + 1):
        with run.scope(SUPERVISOR, SUPERVISOR):
            stream = answer_events()
            request = ModelRequest(
                component="supervisor",
                agent_name=SUPERVISOR,
                messages=_supervisor_messages(mas, run, notes),
                delegates=sorted(agents),
                answer=stream,
            )
            decision = await _supervise(mas, run, request)
            await stream.finish(decision)
            if run.ctx.journal is not None:  # (a resume point for a worker taking over)
                await run.ctx.journal.boundary()
            target = (decision.delegate_to_agent or "").strip().lower()
            if not target and decision.satisfied:
                run.last_state = {
                    "current_node": SUPERVISOR,
                    "answer": decision.answer or "",
                    "satisfied": True,
                    "reasoning": decision.reasoning,
                    "stop_reason": "completed",
                }
                await emit_event(
                    "answer",
                    {
                        "answer": decision.answer or "",
                        "satisfied": True,
                        "stop_reason": "completed",
                    },
                    {"stop_reason": "completed"},
                )
        yield (
            "updates",
            {
                SUPERVISOR: StateSnapshot(
                    current_node=SUPERVISOR,
                    round=round_,
                    reasoning=decision.reasoning,
                    delegate_to_agent=decision.delegate_to_agent,
                    agent_input=decision.agent_input,
                    answer=decision.answer or "",
                    satisfied=decision.satisfied,
                )
            },
        )
        if not target:
            if decision.satisfied:
                return
            notes.append(Message("user", "Give a sub-task to an agent, or the final answer."))
            continue
        if target not in agents:
            notes.append(
                Message("user", f"There is no agent named {target!r}; agents: {sorted(agents)}.")
            )
            continue
        await run.handoff(SUPERVISOR, target, decision.reasoning)
        run.chain.append(target)
        sub_task = decision.agent_input or run.query
        # The agent's answer goes to the supervisor, unless it is returned directly.
        async for update in run.run_agent(
            agents[target], sub_task, SUPERVISOR, intermediate=not return_direct
        ):
            yield update
        await run.handoff(target, SUPERVISOR, "returned its result")
        run.chain.pop()
        result = str(run.last_state.get("answer") or "")
        if return_direct:
            run.stop_reason = "return_direct"
            return
        notes.append(Message("user", f"{target} answered:\n{result}"))
    await run.stop("max_rounds", SUPERVISOR, max_rounds)


def _supervisor_messages(
    mas: MultiAgentSystem, run: MasRun, notes: Sequence[Message]
) -> list[Message]:
    details: Mapping[str, Any] = mas.agentManager.agent_details
    roster = "\n".join(f"- {name}: {d.summary()}" for name, d in details.items())
    system = (
        f"{mas.supervisor_prompt}\n\nAGENTS:\n{roster}\n\nReply with one JSON object: "
        "reasoning, satisfied, delegate_to_agent, agent_input, answer. To give an agent a "
        "sub-task set delegate_to_agent and agent_input; to finish set satisfied=true and "
        "write the answer."
    )
    if mas.supervisor_context:
        system += f"\n\nUSEFUL INFO: {mas.supervisor_context}"
    # MASAI's supervisor memory: earlier direct tasks (a server's runs carry their context).
    history = mas.supervisor_history if run.direct else []
    return [Message("system", system), *history, Message("user", run.query), *notes]
