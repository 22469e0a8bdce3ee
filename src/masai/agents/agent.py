"""An agent: MASAI's router → execute_tool → evaluator → reflection loop, streamed.

The loop is a plain state machine, not a graph library: each step runs one node, then routing
picks the next (MASAI's rules: satisfied with no tool ends; a tool goes to ``execute_tool``;
neither goes to ``reflection``). Every step emits its events as it happens. All state of a run
lives in one ``RunState`` object, so concurrent runs of one agent share nothing but configuration
and the session store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final

from .. import _json, _tracing
from .._context import current_scope, scoped, tool_scope
from .._sinks import new_tool_call_id
from ..events import emit_event, emit_node_transition, emit_tool_call, emit_tool_output
from ..exceptions import ConfigError, ModelOutputError, ToolError
from ..memory import LOCAL_OWNER, InMemorySessionStore, SessionStore
from ..models import AnswerStream, Component, Decision, Message, Model, ModelRequest, Usage
from ..models import ToolCallRequest as _Call
from ..tooling import Tool, ToolArgumentsError, as_tool
from ._answers import answer_events, forward_answer
from ._approvals import ApprovalPolicy, ApprovalTimeout
from ._approve import approve
from ._calls import close_call, gather_calls, stringify, truncate
from ._details import AgentDetails
from ._journal import ToolInterrupted
from ._knowledge import Knowledge
from ._limits import AgentLimits, limit_note
from ._prompts import build_messages
from ._run_context import RunContext
from ._state import RunState, StateSnapshot, note_repeats, snapshot
from ._usage import decide

__all__ = ("Agent", "AgentLimits", "StateSnapshot", "answer_events")

logger = logging.getLogger("masai.agents")

_COMPONENT: Final[dict[str, Component]] = {
    "router": "router",
    "planner": "planner",
    "evaluator": "evaluator",
    "reflection": "reflector",
}
#: Why a run ended, as ``stop_reason``.
COMPLETED, DELEGATED, RETURN_DIRECT = "completed", "delegated", "return_direct"


class Agent:
    """Create agents with ``AgentManager.create_agent``; this is the runtime behind them."""

    #: Tells the stream handlers this agent emits its own reasoning/answer events.
    __masai_emits_events__ = True

    def __init__(
        self,
        name: str,
        *,
        models: Mapping[str, Model],
        tools: Iterable[Any] = (),
        details: AgentDetails | None = None,
        plan: bool = False,
        sessions: SessionStore | None = None,
        memory_order: int = 10,
        limits: AgentLimits | None = None,
        parallel_tool_calls: bool = False,
        approval_policy: ApprovalPolicy | None = None,
        knowledge: Knowledge | None = None,
        user_id: str | int | None = None,
        max_tool_loop: int | None = None,
        streaming_callback: Callable[[str], Any] | None = None,
    ) -> None:
        missing = {"router", "evaluator", "reflector", *(["planner"] if plan else [])} - set(models)
        if missing:
            raise ConfigError(f"agent {name!r} has no model for {sorted(missing)}")
        self.name = name
        self.models = dict(models)
        self.tools: dict[str, Tool] = {}
        self.set_tools(tools, replace=True)
        self.details = details or AgentDetails(capabilities=[])
        self.plan = plan
        self.sessions: SessionStore = sessions if sessions is not None else InMemorySessionStore()
        if memory_order < 0:
            raise ConfigError("memory_order must be >= 0")
        self.memory_order = memory_order
        self.limits = limits or AgentLimits()
        self.parallel_tool_calls = parallel_tool_calls
        #: ``(tool name, arguments) -> True`` for calls that need a person's approval.
        self.approval_policy = approval_policy
        #: Context, context callables and long-term memory (MASAI's options).
        self.knowledge = knowledge or Knowledge()
        #: Whose long-term memory a local run uses (a server's runs use their principal's).
        self.user_id = user_id
        #: After this many identical calls of one tool the model is told it is looping.
        self.max_tool_loop = max_tool_loop
        #: MASAI's token streaming: answer text goes here as it is written.
        self.streaming_callback = streaming_callback

    def set_tools(self, tools: Iterable[Any], *, replace: bool = False) -> None:
        """Add tools (one of the same name is replaced) or, with ``replace``, swap them all;
        a run sees the change from its next step."""
        new: dict[str, Tool] = {}
        for obj in tools:
            t = as_tool(obj)
            if t.name in new:
                raise ConfigError(f"agent {self.name!r} has two tools named {t.name!r}")
            new[t.name] = t
        self.tools = new if replace else {**self.tools, **new}
        self._specs = [t.spec() for t in self.tools.values()]

    def set_context(self, context: Mapping[str, Any] | None = None, mode: str = "set") -> None:
        """MASAI's: replace (``"set"``) or merge into (``"update"``) the useful information
        every step of this agent sees."""
        if mode not in ("set", "update"):
            raise ConfigError("mode must be 'set' or 'update'")
        base = self.knowledge.info if mode == "update" else {}
        self.knowledge.info = {**base, **(context or {})}

    @property
    def agent_name(self) -> str:
        """MASAI's name for ``name``."""
        return self.name

    @property
    def long_term_memory(self) -> Any:
        """MASAI's handle on the agent's long-term memory (``save``/``search``), or None."""
        return self.knowledge.long_term

    def __repr__(self) -> str:
        return f"<Agent {self.name} tools={list(self.tools)}>"

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent can call; its events stream nested in the
        caller's (``agent_path`` and the calling ``tool_call_id``), sharing the caller's run."""
        from ._agent_tool import AgentTool

        return AgentTool(self, name=name, description=description)

    # -- public API ----------------------------------------------------------------------------
    async def initiate_agent(
        self,
        query: str,
        passed_from: str | None = None,
        previous_node: str | None = None,
        *,
        session_id: str | None = None,
        context: RunContext | None = None,
    ) -> dict[str, Any]:
        """Run to the end; the final state (``answer``, ``reasoning``, ``satisfied``,
        ``messages``, ``current_node``, ``stop_reason``, …) as a plain dict (MASAI's
        signature: ``passed_from`` defaults to the user)."""
        final: Mapping[str, Any] = {}
        async for _, update in self.initiate_agent_astream(
            query, passed_from, previous_node, session_id=session_id, context=context
        ):
            (final,) = update.values()
        return {**final, "messages": list(final.get("messages", ()))}

    async def initiate_agent_astream(
        self,
        query: str,
        passed_from: str | None = None,
        previous_node: str | None = None,
        *,
        session_id: str | None = None,
        context: RunContext | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, StateSnapshot]]]:
        """Run, yielding ``("updates", {node: state})`` after each node (MASAI's shape).
        ``previous_node`` is where the caller's flow was (the first transition starts there)."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("query must be a non-empty string")
        run = await self._start(query, passed_from or "user", session_id, context)
        run.previous_node = previous_node
        # A child of the current span (the run's, or the tool calling this agent); kept in the
        # run, never current across a yield: each step's span names it as parent.
        run.span = _tracing.agent_span(self.name, run.path, run.ctx.session_id)
        node: str | None = "planner" if self.plan else "router"
        try:
            while node is not None:
                # The scope is entered per step, never held across a yield: between steps the
                # caller's code runs in the caller's own scope.
                with (
                    self._scope(run, node),
                    forward_answer(self.streaming_callback),
                    _tracing.node_span(self.name, node, run.steps + 1, run.span),
                ):
                    await emit_node_transition(run.previous_node or "start", node)
                    await self._step(run, node)
                    next_node = self._route(run, node)
                    if next_node is None:
                        await self._finish(run, node)
                yield "updates", {node: self._snapshot(run, node)}
                run.previous_node = node
                node = next_node
        except Exception as exc:
            run.span.fail(exc)
            raise
        finally:
            run.span.set({"masai.stop_reason": run.stop_reason, "masai.steps": run.steps})
            run.span.end()

    # -- a run ---------------------------------------------------------------------------------
    async def _start(
        self, query: str, passed_from: str, session_id: str | None, context: RunContext | None
    ) -> RunState:
        scope = current_scope()
        if context is None:
            parent = scope.run if isinstance(scope.run, RunContext) else None
            # Inside another agent's tool: share its run (memory, session), nest under it.
            context = (
                parent.child(coworkers={}, agent_path=scope.agent_path)
                if parent is not None
                else RunContext(agent_path=scope.agent_path)
            )
        if session_id is not None:
            context = context.child(session_id=session_id)
        if context.journal is not None:
            await context.journal.begin()
        timeout = self.limits.run_timeout_seconds
        loop = asyncio.get_running_loop()
        return RunState(
            query=query,
            passed_from=passed_from,
            ctx=context,
            path=(*context.agent_path, self.name),
            history=(
                list(context.history)
                if context.history is not None
                else await self.sessions.load(context.owner, context.session_id, self.name)
            ),
            deadline=loop.time() + timeout if timeout else None,
            transcript=[{"role": "user", "content": query}],
        )

    async def _notes(self, run: RunState) -> list[str]:
        """The run's knowledge, gathered at its first model call (inside the node's scope, so
        a long-term memory recall streams as that node's event)."""
        if run.notes is None:
            run.notes = await self.knowledge.for_run(
                run.query,
                run.passed_from == "user",
                self.memory_user(run.ctx) if self.knowledge.remembers else "default",
            )
        return run.notes

    def memory_user(self, context: RunContext) -> str | int:
        """Whose long-term memory a run reads and adds to: a server's principal always (so
        one never reaches another's); locally MASAI's ``masai.context.set_user_id``, else
        the manager's ``user_id``."""
        if context.owner != LOCAL_OWNER:
            return context.owner
        from ..longterm import get_user_id

        chosen = get_user_id() or self.user_id
        return chosen if chosen is not None else "default"

    def _scope(self, run: RunState, node: str) -> contextlib.AbstractContextManager[Any]:
        # tool_call_id is inherited: an agent running inside another agent's tool reports under
        # that call, so clients can nest its events there.
        return scoped(agent=self.name, node=node, agent_path=run.path, run=run.ctx)

    async def _step(self, run: RunState, node: str) -> None:
        run.steps += 1
        deadline = asyncio.timeout_at(run.deadline) if run.deadline is not None else None
        try:
            async with deadline or contextlib.nullcontext():
                if node == "execute_tool":
                    await self._execute_tools(run)
                else:
                    await self._decide(run, node)
                if run.ctx.journal is not None:
                    await run.ctx.journal.boundary()
        except TimeoutError:
            if deadline is None or not deadline.expired():
                raise
            run.stop_reason = "timeout"

    def _route(self, run: RunState, node: str) -> str | None:
        """The next node, or ``None`` to end (with ``run.stop_reason`` saying why)."""
        if run.stop_reason is not None:
            return None
        decision = run.decision
        if node == "execute_tool":
            nxt = "evaluator"
        elif decision is not None and decision.calls:
            nxt = "execute_tool"
        elif decision is not None and decision.delegate_to_agent:
            run.stop_reason = DELEGATED
            return None
        elif decision is not None and decision.satisfied:
            run.stop_reason = COMPLETED
            return None
        else:
            nxt = "reflection"
        limits = self.limits
        if (
            nxt == "execute_tool"
            and limits.max_tool_calls is not None
            and (run.total_tool_calls >= limits.max_tool_calls)
        ):
            run.stop_reason = "max_tool_calls"
        elif nxt == "reflection" and run.reflection_counter >= limits.max_reflections:
            run.stop_reason = "max_reflections"
        elif run.steps >= limits.max_steps:
            run.stop_reason = "max_steps"
        elif run.deadline is not None and asyncio.get_running_loop().time() >= run.deadline:
            run.stop_reason = "timeout"
        return None if run.stop_reason is not None else nxt

    async def _finish(self, run: RunState, node: str) -> None:
        reason = run.stop_reason or COMPLETED
        note = limit_note(self.limits, reason)
        if note is not None:
            run.answer = f"{run.answer}\n\n{note}" if run.answer else note
            run.satisfied = False
            logger.info("agent %s stopped: %s", self.name, reason)
        run.stop_reason = reason
        if run.answer:
            metadata: dict[str, Any] = {"stop_reason": reason}
            if run.ctx.intermediate or reason == DELEGATED:
                metadata["intermediate"] = True
            await emit_event(
                "answer",
                {"answer": run.answer, "satisfied": run.satisfied, "stop_reason": reason},
                metadata,
            )
        await emit_node_transition(node, "end")
        if self.memory_order and run.answer and run.ctx.remember:
            await self.sessions.append(
                run.ctx.owner,
                run.ctx.session_id,
                self.name,
                [Message("user", run.query), Message("assistant", run.answer)],
                self.memory_order,
            )
        if run.answer and run.satisfied and run.ctx.remember and self.knowledge.keeps:
            user = self.memory_user(run.ctx)
            await self.knowledge.remember(
                user, self.name, run.ctx.session_id, run.query, run.answer
            )

    # -- nodes ---------------------------------------------------------------------------------
    async def _decide(self, run: RunState, node: str) -> None:
        component = _COMPONENT[node]
        if node == "reflection":
            run.reflection_counter += 1
        answer = answer_events(intermediate=run.ctx.intermediate)
        journal = run.ctx.journal
        if journal is None:
            decision, note = await self._ask(run, component, answer, run.ctx.usage)
        else:  # recorded, or asked and recorded (with ids for its calls)
            decision, note, run.call_ids = await journal.decide(
                lambda usage: self._ask(run, component, answer, usage), run.ctx.usage
            )
        if note is not None:
            run.scratch.append(Message("user", note))
        await answer.finish(decision)
        run.decision = decision
        run.reasoning = decision.reasoning
        run.delegate_to_agent = decision.delegate_to_agent
        run.satisfied = decision.satisfied
        if decision.answer:
            run.answer = decision.answer
        wire = decision.model_dump(exclude_defaults=True)
        run.scratch.append(Message("assistant", _json.dumps_str(wire)))
        run.transcript.append({"role": "assistant", "node": node, "content": wire})

    async def _ask(
        self, run: RunState, component: Component, answer: AnswerStream, usage: Usage
    ) -> tuple[Decision, str | None]:
        """The model's decision, and what to tell it when its output was unusable."""
        coworkers = {k: v for k, v in run.ctx.coworkers.items() if k != self.name}
        request = ModelRequest(
            component=component,
            agent_name=self.name,
            messages=build_messages(
                name=self.name,
                details=self.details,
                component=component,
                tools=self._specs,
                coworkers=coworkers,
                parallel=self.parallel_tool_calls,
                history=run.history,
                task=run.query,
                passed_from=run.passed_from,
                scratch=run.scratch,
                notes=[
                    *await self._notes(run),
                    *await self.knowledge.for_node(component, run.query),
                ],
            ),
            tools=self._specs,
            delegates=list(coworkers),
            parallel_tool_calls=self.parallel_tool_calls,
            answer=answer,
            usage=usage,
        )
        try:
            return await decide(self.models[component], request), None
        except ModelOutputError as exc:
            logger.warning("agent %s: unusable %s output: %s", self.name, component, exc)
            decision = Decision(reasoning="My last reply could not be understood.")
            return decision, f"Your last reply was not a valid decision: {exc}"

    async def _execute_tools(self, run: RunState) -> None:
        assert run.decision is not None
        calls = list(run.decision.calls)
        budget = self.limits.max_tool_calls
        allowed = len(calls) if budget is None else max(budget - run.total_tool_calls, 0)
        run.total_tool_calls += min(allowed, len(calls))
        ids = run.call_ids or tuple(new_tool_call_id() for _ in calls)
        if len(calls[:allowed]) == 1:
            results = [await self._run_tool(run, calls[0], ids[0])]
        else:  # each call in its own task, so each has its own tool scope
            runs = [self._run_tool(run, c, i) for c, i in zip(calls[:allowed], ids, strict=False)]
            results = await gather_calls(runs)
        for skipped in calls[allowed:]:
            note = f"{skipped.tool} was not run: the tool-call limit was reached."
            results.append((skipped, note, True, False))
        observations = []
        for call, output, is_error, direct in results:
            observations.append(f"[{call.tool}{' error' if is_error else ''}]\n{output}")
            if direct and not is_error:
                run.answer, run.satisfied, run.stop_reason = output, True, RETURN_DIRECT
        last = results[-1][0]
        run.tool_decided_by = run.previous_node
        run.current_tool, run.tool_input = last.tool, last.tool_input
        run.tool_output = "\n\n".join(observations)
        run.scratch.append(Message("user", "Tool results:\n" + run.tool_output))
        note_repeats(run, calls, self.max_tool_loop)
        run.transcript.append({"role": "tool", "content": run.tool_output})

    async def _run_tool(
        self, run: RunState, call: _Call, call_id: str
    ) -> tuple[_Call, str, bool, bool]:
        """Run one call in its own tool scope: (call, output for the model, failed, direct)."""
        tool = self.tools.get(call.tool)
        with tool_scope(call.tool, call_id), _tracing.tool_span(call.tool, call_id) as span:
            await emit_tool_call(call.tool, call.tool_input, node="execute_tool")
            record: dict[str, Any] = {"id": call_id, "tool": call.tool, "input": call.tool_input}
            run.tool_calls.append(record)
            journal = run.ctx.journal
            try:
                if journal is None:
                    outcome = await self._outcome(run, tool, call, call_id)
                else:  # recorded, or run and recorded
                    outcome = await journal.tool(
                        call_id, lambda: self._outcome(run, tool, call, call_id)
                    )
            except asyncio.CancelledError:
                # Interrupted (run deadline or client gone): close the call in the stream.
                await close_call(call.tool, "Cancelled.")
                raise
            except ApprovalTimeout:  # ends the run; the call never ran
                await close_call(call.tool, f"{call.tool} was not run: no one decided in time.")
                raise
            except ToolInterrupted as exc:  # ends the run: running it again is not safe
                await close_call(call.tool, f"{call.tool} was not run again: {exc}")
                raise
            output, shown, is_error, truncated = outcome
            record.update(output=output, is_error=is_error)
            if is_error:
                span.fail(shown)
            await emit_tool_output(
                call.tool,
                shown,
                "execute_tool",
                is_error=is_error,
                metadata={"truncated": True, "output_chars": len(shown)} if truncated else None,
            )
        direct = tool is not None and tool.return_direct
        return call, output, is_error, direct

    async def _outcome(
        self, run: RunState, tool: Tool | None, call: _Call, call_id: str
    ) -> tuple[str, str, bool, bool]:
        """``_approve_and_call``'s result cut to the output limit, and whether it was cut."""
        output, shown, is_error = await self._approve_and_call(run, tool, call, call_id)
        limit = self.limits.max_tool_output_chars
        if len(output) <= limit:
            return output, shown, is_error, False
        return truncate(output, limit), truncate(shown, limit), is_error, True

    async def _approve_and_call(
        self, run: RunState, tool: Tool | None, call: _Call, call_id: str
    ) -> tuple[str, str, bool]:
        """``_call_tool``, once a person approved the call if the tool or the policy wants it;
        a denied call does not run and its result says why."""
        tool_input = call.tool_input
        if tool is not None:
            gate = await approve(
                tool,
                call_id,
                tool_input,
                approvals=run.ctx.approvals,
                policy=self.approval_policy,
            )
            if gate.refusal is not None:
                return gate.refusal, gate.refusal, True
            tool_input = gate.tool_input
            if not tool.idempotent and run.ctx.journal is not None:
                await run.ctx.journal.started(call_id)
        return await self._call_tool(tool, call, tool_input)

    async def _call_tool(
        self, tool: Tool | None, call: _Call, tool_input: Any
    ) -> tuple[str, str, bool]:
        """(output for the model, output for the client, failed). A failure is an
        observation the model can act on; internals of unexpected errors stay in the log."""
        if tool is None:
            message = f"There is no tool named {call.tool!r}. Available: {sorted(self.tools)}."
            return message, message, True
        timeout = tool.timeout or self.limits.tool_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                result = await tool.call(tool_input)
        except TimeoutError:
            message = f"{call.tool} did not finish within {timeout:g} seconds."
            return message, message, True
        except (ToolArgumentsError, ToolError) as exc:
            return str(exc), str(exc), True
        except Exception as exc:
            error_id = uuid.uuid4().hex[:8]
            logger.warning("tool %s failed (error %s)", call.tool, error_id, exc_info=exc)
            for_model = f"{call.tool} failed: {type(exc).__name__}: {exc}"
            return for_model, f"{call.tool} failed ({type(exc).__name__}, error {error_id}).", True
        text = stringify(result)
        return text, text, False

    def _snapshot(self, run: RunState, node: str) -> StateSnapshot:
        return snapshot(self.name, run, node)
