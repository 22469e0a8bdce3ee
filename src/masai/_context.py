"""Per-run context: which sink receives events, and where in a run the code currently is.

Both live in ContextVars, so they follow a run into child tasks and into worker threads started
with ``asyncio.to_thread`` or a ``ToolThreads`` pool, and never leak into a concurrent run. Every
change is undone with its token, never by setting ``None``: a nested stream inside a tool must
not cut off the outer one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from . import _json

if TYPE_CHECKING:
    from ._sinks import Sink

__all__ = ("Scope", "agent_scope", "current_scope", "current_sink", "scoped", "tool_scope")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Where events are being emitted from; copied into every event's metadata."""

    agent: str | None = None
    node: str | None = None
    agent_path: tuple[str, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    #: The agent run's ``RunContext`` (session, shared memory, co-workers), for tools.
    run: Any = None
    #: The metadata every event from here carries after ``run_id`` and ``seq``, built once per
    #: scope, not per event; and the same as JSON (``,"agent":…}``), so an encoder can splice
    #: it into each chunk instead of serialising it again.
    metadata: dict[str, Any] = dataclasses.field(init=False, repr=False, compare=False)
    metadata_json: bytes = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = {"agent": self.agent, "node": self.node, "agent_path": list(self.agent_path)}
        if self.tool_call_id is not None:
            base["tool_call_id"] = self.tool_call_id
        object.__setattr__(self, "metadata", base)
        object.__setattr__(self, "metadata_json", b"," + _json.dumps(base)[1:])

    def evolve(self, changes: dict[str, Any]) -> Scope:
        """A copy with ``changes``; ``dataclasses.replace`` without its per-call introspection
        (a scope is entered for every node and tool call)."""
        return Scope(
            **{
                "agent": self.agent,
                "node": self.node,
                "agent_path": self.agent_path,
                "tool_call_id": self.tool_call_id,
                "tool_name": self.tool_name,
                "run": self.run,
                **changes,
            }
        )


_ROOT = Scope()


@dataclasses.dataclass(slots=True)
class OpenCall:
    """A tool call emitted by hand (``emit_tool_call`` outside the runtime's tool scope), open
    in the emitting context until its ``emit_tool_output``. Context-local, so parallel calls in
    separate tasks pair correctly whatever order they finish in."""

    tool_call_id: str
    tool_name: str
    token: Token[OpenCall | None] | None = None
    #: ``scope`` is ``scope_in(base)``: progress is emitted from one scope, many times, so the
    #: last answer is kept (``emit_custom_event`` reads it without a call when ``base`` is its
    #: scope; ``_ROOT`` until then, with no ``base``).
    base: Scope | None = None
    scope: Scope = _ROOT

    def scope_in(self, base: Scope) -> Scope:
        """``base`` as if the runtime had opened a tool scope for this call: progress emitted
        by hand inside the call then carries the metadata it always did (``base``'s, then
        ``tool_call_id``), pre-serialised once rather than built and encoded per event."""
        if base is not self.base:
            self.scope = call_scope(base, self.tool_name, self.tool_call_id)
            self.base = base
        return self.scope


def call_scope(base: Scope, tool_name: str | None, tool_call_id: str) -> Scope:
    """``base`` inside the tool call ``tool_call_id`` (its metadata: ``base``'s, then the id)."""
    return base.evolve({"tool_call_id": tool_call_id, "tool_name": tool_name})


_scope_var: ContextVar[Scope] = ContextVar("masai.scope", default=_ROOT)
_sink_var: ContextVar[Sink | None] = ContextVar("masai.sink", default=None)
_open_call_var: ContextVar[OpenCall | None] = ContextVar("masai.open_call", default=None)


def current_scope() -> Scope:
    return _scope_var.get()


def current_sink() -> Sink | None:
    return _sink_var.get()


def reset_var(var: ContextVar[T], token: Token[T]) -> None:
    """Undo ``var.set``; a token from another Context (a generator finalised elsewhere) is a
    no-op, because the Context it belonged to is not the one running now."""
    try:  # noqa: SIM105 (not contextlib.suppress: this runs on every scope exit)
        var.reset(token)
    except ValueError:
        pass


class _Entered:
    """``with scoped(...)``: a plain context manager, not ``@contextmanager`` (a scope is
    entered per node and per tool call; a generator and its wrapper each time add up)."""

    __slots__ = ("_changes", "_token")

    def __init__(self, changes: dict[str, Any]) -> None:
        self._changes = changes
        self._token: Token[Scope] | None = None

    def __enter__(self) -> Scope:
        scope = _scope_var.get().evolve(self._changes)
        self._token = _scope_var.set(scope)
        return scope

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            reset_var(_scope_var, self._token)
            self._token = None


def scoped(**changes: Any) -> contextlib.AbstractContextManager[Scope]:
    """Run the ``with`` block in the current scope with ``changes`` (``agent=…``, ``node=…``)."""
    return _Entered(changes)


def agent_scope(agent: str) -> contextlib.AbstractContextManager[Scope]:
    """Enter an agent: it is appended to the delegation/nesting path."""
    outer = _scope_var.get()
    return scoped(
        agent=agent,
        node=None,
        agent_path=(*outer.agent_path, agent),
        tool_call_id=None,
        tool_name=None,
    )


def tool_scope(tool_name: str, tool_call_id: str) -> contextlib.AbstractContextManager[Scope]:
    return scoped(tool_name=tool_name, tool_call_id=tool_call_id)
