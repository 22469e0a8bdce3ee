"""What an agent knows beyond the conversation: MASAI's context, context callables and
long-term memory, gathered into the notes its prompt carries.

MASAI users give an agent knowledge three ways, and each stays what MASAI documents:

* ``context`` (``AgentManager(context=...)``, ``update_context``, ``agent.set_context``): a
  dict every step of the agent sees as useful information.
* ``context_callable`` (one callable or a list): called with the user's query when the task
  comes from the user (not a hand-off between agents); what it returns is useful data for
  that run. ``callable_config`` maps a node (``router``, ``evaluator``, ``reflector``,
  ``planner``) to callables called with the query before that node asks its model.
* long-term memory (``persist_memory``): documents relevant to the query are recalled into
  the prompt, and each completed turn is saved, per user.

Callables may be sync or async; a failing one is logged and its note left out (a broken
context source must not take a run down), as MASAI does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .._json import dumps_str

__all__ = ("ContextCallable", "Knowledge", "Recall", "callables")

logger = logging.getLogger("masai.agents")

ContextCallable = Callable[[str], Any]


class Recall(Protocol):
    """What an agent needs of a long-term memory (``masai.longterm.LongTermMemory``)."""

    async def save(self, user_id: str | int, documents: Sequence[Any]) -> None: ...

    async def search(
        self, user_id: str | int, query: str, k: int = 5, categories: list[str] | None = None
    ) -> list[Any]: ...


def callables(value: ContextCallable | Sequence[ContextCallable] | None) -> tuple[Any, ...]:
    """MASAI takes one callable or a list of them; either way a tuple, checked."""
    if value is None:
        return ()
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    for item in items:
        if not callable(item):
            raise TypeError(f"a context callable must be callable, got {type(item).__name__}")
    return items


async def _call(fn: ContextCallable, query: str) -> Any:
    try:
        result = fn(query)
        if inspect.isawaitable(result):
            result = await result
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.warning("context callable %r failed; left out", fn, exc_info=True)
        return None
    return result


def _text(value: Any) -> str:
    """A callable's result as prompt text (``dumps_str`` takes any value, never raises)."""
    return value if isinstance(value, str) else dumps_str(value)


@dataclasses.dataclass
class Knowledge:
    """One agent's knowledge sources (configuration shared by all its runs; nothing per run)."""

    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    on_user_query: tuple[ContextCallable, ...] = ()
    per_node: Mapping[str, tuple[ContextCallable, ...]] = dataclasses.field(default_factory=dict)
    long_term: Recall | None = None
    persist: bool = False
    #: How many long-term documents to recall for a query.
    recall: int = 5
    #: MASAI's ``chat_log``: each answered question is appended here as a JSON line.
    chat_log: Path | None = None

    @property
    def keeps(self) -> bool:
        """Whether a finished turn is kept anywhere (long-term memory or the chat log)."""
        return self.remembers or self.chat_log is not None

    @property
    def remembers(self) -> bool:
        return self.persist and self.long_term is not None

    async def for_run(self, query: str, from_user: bool, user_id: str | int) -> list[str]:
        """The notes of a whole run: useful info, the user-level callables' data (only for a
        task from the user) and the long-term documents relevant to the query."""
        notes = []
        if self.info:
            notes.append("USEFUL INFO:\n" + _text(self.info))
        if from_user:
            data = [await _call(fn, query) for fn in self.on_user_query]
            kept = [_text(d) for d in data if d is not None and d != ""]
            if kept:
                notes.append("USEFUL DATA:\n" + "\n".join(kept))
        if self.remembers and self.long_term is not None:
            try:
                docs = await self.long_term.search(user_id, query, k=self.recall)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("long-term memory search failed; run goes on", exc_info=True)
                docs = []
            if docs:
                lines = [f"- {getattr(d, 'page_content', d)}" for d in docs]
                notes.append("LONG-TERM MEMORY (relevant past conversations):\n" + "\n".join(lines))
        return notes

    async def for_node(self, node: str, query: str) -> list[str]:
        """The notes of the callables ``callable_config`` gives this node."""
        data = [await _call(fn, query) for fn in self.per_node.get(node, ())]
        kept = [_text(d) for d in data if d is not None and d != ""]
        return [f"USEFUL DATA ({node}):\n" + "\n".join(kept)] if kept else []

    async def remember(
        self, user_id: str | int, agent: str, session_id: str, query: str, answer: str
    ) -> None:
        """Save a completed turn to long-term memory (``persist_memory``) and the chat log;
        a failing store is logged, never fails the run that already answered."""
        if self.chat_log is not None:
            line = {
                "time": time.time(),
                "user_id": user_id,
                "agent": agent,
                "session_id": session_id,
                "query": query,
                "answer": answer,
            }
            await asyncio.to_thread(_append, self.chat_log, dumps_str(line))
        if not self.remembers or self.long_term is None:
            return
        document = {
            "page_content": f"User asked: {query}\n{agent} answered: {answer}",
            "metadata": {"agent": agent, "session_id": session_id, "kind": "turn"},
        }
        try:
            await self.long_term.save(user_id, [document])
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("long-term memory save failed", exc_info=True)


def _append(path: Path, line: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        logger.warning("could not write the chat log %s", path, exc_info=True)
