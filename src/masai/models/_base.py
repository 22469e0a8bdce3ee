"""The model interface: one call per agent component turn, returning a ``Decision``.

A model sees a ``ModelRequest`` (component, agent, messages, tool schemas, the decision schema)
and returns MASAI's decision fields. While it generates, it feeds answer text to
``request.answer`` so the runtime can stream tokens; how it produces the decision (JSON-schema
output, native tool calls, a script) is its own business.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..exceptions import ModelOutputError

__all__ = (
    "AnswerStream",
    "Component",
    "Decision",
    "Message",
    "Model",
    "ModelRequest",
    "ToolCallRequest",
    "ToolSpec",
    "Usage",
    "decision_schema",
    "supervisor_schema",
)

Component = Literal["router", "evaluator", "reflector", "planner", "supervisor"]

_NONE_WORDS = (None, "", "None", "none", "null", "NULL")


def _none_if_empty(value: Any) -> Any:
    return None if value in _NONE_WORDS else value


def _parse_tool_input(value: Any) -> Any:
    """MASAI's models write ``tool_input`` as a JSON string; accept both that and objects."""
    value = _none_if_empty(value)
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value  # a bare string: the tool adapter decides what it means
    return value


class ToolCallRequest(BaseModel):
    """One tool call in a decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    tool_input: Any = None

    _tool_input = field_validator("tool_input", mode="before")(_parse_tool_input)


class Decision(BaseModel):
    """What a model turn decided: MASAI's fields, plus ``tool_calls`` for parallel calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasoning: str = ""
    satisfied: bool = False
    tool: str | None = None
    tool_input: Any = None
    delegate_to_agent: str | None = None
    #: A supervisor's sub-task for ``delegate_to_agent`` (MASAI's supervisor field).
    agent_input: str | None = None
    answer: str | None = None
    tool_calls: tuple[ToolCallRequest, ...] = Field(default=())

    _none = field_validator("tool", "delegate_to_agent", "agent_input", "answer", mode="before")(
        _none_if_empty
    )
    _tool_input = field_validator("tool_input", mode="before")(_parse_tool_input)

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _calls(cls, value: Any) -> Any:
        return () if value in _NONE_WORDS else value

    @property
    def calls(self) -> tuple[ToolCallRequest, ...]:
        """Every tool call requested, whichever fields the model used."""
        if self.tool_calls:
            return self.tool_calls
        if self.tool is not None:
            return (ToolCallRequest(tool=self.tool, tool_input=self.tool_input),)
        return ()

    @property
    def ends_turn(self) -> bool:
        """Satisfied and asking for no tool: this decision ends the agent's run."""
        return self.satisfied and not self.calls

    @property
    def is_final_answer(self) -> bool:
        """Ends the run without handing the task on: its answer is what the user gets."""
        return self.ends_turn and not self.delegate_to_agent

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | str | Decision) -> Decision:
        """A decision from a model's output (JSON text or a mapping); typed error if unusable."""
        if isinstance(raw, Decision):
            return raw
        try:
            if isinstance(raw, str | bytes):
                raw = orjson.loads(raw)
            return cls.model_validate(raw)
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise ModelOutputError(f"not a valid decision: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a model sees it."""

    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON schema of the arguments object


@dataclasses.dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, input_tokens: int | None, output_tokens: int | None) -> None:
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0


class AnswerStream:
    """Where a model reports its decision's text while generating it.

    Tokens reach the client live only once the model has said the answer is final (satisfied,
    no tool, no hand-off); otherwise they are held and released when the decision turns out
    final. So the ``token`` events of a turn add up to exactly its answer. Reasoning is sent once,
    before the first live token if the model previews it, else when the decision is complete.
    """

    __slots__ = (
        "_emit",
        "_emit_reasoning",
        "_final",
        "_held",
        "_reasoning",
        "_reasoning_sent",
        "text",
    )

    def __init__(
        self,
        emit: Callable[[str], Awaitable[None]] | None = None,
        emit_reasoning: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._emit = emit
        self._emit_reasoning = emit_reasoning
        self._final: bool | None = None
        self._held: list[str] = []
        self._reasoning: str | None = None
        self._reasoning_sent = False
        self.text = ""

    def preview(
        self,
        *,
        satisfied: bool | None,
        has_tool: bool,
        delegates: bool = False,
        reasoning: str | None = None,
    ) -> None:
        """What the model decided before writing its answer (JSON field order puts it first)."""
        if satisfied is not None:
            self._final = satisfied and not has_tool and not delegates
        if reasoning is not None:
            self._reasoning = reasoning

    async def delta(self, text: str) -> None:
        if not text:
            return
        self.text += text
        if self._emit is None:
            return
        if self._final:
            await self._send_reasoning(self._reasoning)
            await self._emit(text)
        else:
            self._held.append(text)

    async def finish(self, decision: Decision) -> None:
        """Send the reasoning if not yet sent; release held text if the decision is final."""
        await self._send_reasoning(decision.reasoning)
        held, self._held = "".join(self._held), []
        if self._emit is not None and decision.is_final_answer:
            answer = decision.answer or ""
            streamed = self.text[: len(self.text) - len(held)]
            # Send what completes the answer (models' text and parsed answer normally agree).
            rest = answer[len(streamed) :] if answer.startswith(streamed) else ""
            if rest:
                await self._emit(rest)

    async def _send_reasoning(self, reasoning: str | None) -> None:
        if self._reasoning_sent:
            return
        self._reasoning_sent = True
        if reasoning and self._emit_reasoning is not None:
            await self._emit_reasoning(reasoning)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ModelRequest:
    component: Component
    agent_name: str
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    delegates: Sequence[str] = ()
    parallel_tool_calls: bool = False
    answer: AnswerStream = dataclasses.field(default_factory=AnswerStream)
    usage: Usage = dataclasses.field(default_factory=Usage)

    @property
    def output_schema(self) -> dict[str, Any]:
        if self.component == "supervisor":
            return supervisor_schema(list(self.delegates))
        return decision_schema(
            [t.name for t in self.tools], list(self.delegates), self.parallel_tool_calls
        )


def decision_schema(
    tool_names: Sequence[str], delegates: Sequence[str], parallel: bool = False
) -> dict[str, Any]:
    """The decision as a strict JSON schema (OpenAI structured outputs accept it as is).

    Field order is the order models write: ``answer`` last, so whether the turn is final is
    known before its text starts (which is what lets tokens stream live).
    """
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    tool_name = {**nullable_str, "enum": [*tool_names, None]} if tool_names else {"type": "null"}
    call_props: dict[str, Any] = {
        "tool": tool_name,
        "tool_input": {
            **nullable_str,
            "description": "The tool's arguments as a JSON object string; null without a tool.",
        },
    }
    props: dict[str, Any] = {
        "reasoning": {"type": "string", "description": "Why this is the right next step."},
        "satisfied": {
            "type": "boolean",
            "description": "true with an answer and no tool when done; false to keep working.",
        },
    }
    if parallel:
        props["tool_calls"] = {
            "type": "array",
            "description": "Every independent tool call to make now; [] when answering.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["tool", "tool_input"],
                "properties": {**call_props, "tool": {"type": "string", "enum": list(tool_names)}}
                if tool_names
                else call_props,
            },
        }
    else:
        props.update(call_props)
    props["delegate_to_agent"] = (
        {
            **nullable_str,
            "enum": [*delegates, None],
            "description": "Only to hand the task to a co-worker you cannot finish it without.",
        }
        if delegates
        else {"type": "null"}
    )
    props["answer"] = {**nullable_str, "description": "The final answer, when satisfied."}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(props),
        "properties": props,
    }


def supervisor_schema(agents: Sequence[str]) -> dict[str, Any]:
    """A supervisor's decision: hand a sub-task to an agent, or answer."""
    props: dict[str, Any] = {
        "reasoning": {"type": "string", "description": "Why this is the right next step."},
        "satisfied": {"type": "boolean", "description": "true to give the final answer now."},
        "delegate_to_agent": {
            "type": ["string", "null"],
            "enum": [*agents, None],
            "description": "The agent to give a sub-task to; null when answering.",
        },
        "agent_input": {
            "type": ["string", "null"],
            "description": "The sub-task for that agent, with all the context it needs.",
        },
        "answer": {"type": ["string", "null"], "description": "The final answer, when done."},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(props),
        "properties": props,
    }


class Model(abc.ABC):
    """A language model that makes agent decisions."""

    #: Shown in logs and in ``/v1/models``.
    name: str = "model"

    @abc.abstractmethod
    async def decide(self, request: ModelRequest) -> Decision:
        """One turn. Feed answer text to ``request.answer`` while generating, if you can."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Release connections; a server calls this at shutdown."""
