"""The conversations behind ``previous_response_id``: what a Responses API response said, kept
so a later request can continue from it.

Where they live, and why there: in the ``SessionStore`` the agents' own histories use, keyed
``(owner, response_id, CONVERSATION_KEY)``. That store is in-process for a single server and
Redis with ``--backend``, so a conversation outlives its run (whose log and record are dropped
after ``run_retention``) exactly as long as sessions are kept (``session_ttl``, and the
in-process store's size bounds), and any API server can continue a response that another
server started and a worker executed. The owner is part of the key: another principal naming
the same id finds nothing. ``CONVERSATION_KEY`` has a capital letter and agent names are
stored lower-case, so no agent's history can ever share the slot.

Each response keeps its whole conversation (earlier turns, its input, its answer) under its own
id, rather than a link to the previous one: a chain then never breaks because an older link
lapsed first, and two responses continuing the same one branch without seeing each other.

Who writes it: the API server that started the response, once it has read the run's end in
the run's log (so the same code serves both modes: the log is shared, the run's task may be in
a worker). The stream's last frame waits for the write, so a client that continues right after
``response.completed`` finds it; a client that left before the end leaves a follower reading
the log to the end (``Turn.follow``). Only a completed run is kept, and nothing is kept for a
``store: false`` request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..exceptions import MasaiError
from ..memory import SessionStore
from ..models import Message
from ._encoding import Outcome
from ._reply import FinalText
from ._runs import Runs

__all__ = ("CONVERSATION_KEY", "MAX_MESSAGES", "Conversations", "Turn")

logger = logging.getLogger("masai.server")

#: The agent slot of the session store a response's conversation is kept in.
CONVERSATION_KEY = "Responses#conversation"

#: The most messages a conversation keeps (the oldest go first), as many as a chat request may
#: carry.
MAX_MESSAGES = 10_000


class Conversations:
    """Responses' conversations in a ``SessionStore`` (see the module's doc)."""

    def __init__(self, sessions: SessionStore, *, keep: int = MAX_MESSAGES) -> None:
        self.sessions = sessions
        self.keep = keep

    async def load(self, owner: str, response_id: str) -> list[Message] | None:
        """The conversation up to and including ``response_id``'s answer; ``None`` when there
        is none for this owner (unknown, someone else's, not stored, or lapsed). A kept one is
        never empty: it holds at least the question and the answer."""
        return await self.sessions.load(owner, response_id, CONVERSATION_KEY) or None

    async def save(self, owner: str, response_id: str, messages: Sequence[Message]) -> None:
        await self.sessions.append(owner, response_id, CONVERSATION_KEY, messages, self.keep)


class Turn:
    """One response's conversation, written once, when its run has completed: ``before`` (the
    earlier turns and this request's input) and then the answer."""

    __slots__ = ("_task", "before", "conversations", "owner", "response_id")

    def __init__(
        self,
        conversations: Conversations,
        owner: str,
        response_id: str,
        before: Sequence[Message],
    ) -> None:
        self.conversations = conversations
        self.owner = owner
        self.response_id = response_id
        self.before = tuple(before)
        self._task: asyncio.Future[None] | None = None

    async def completed(self, answer: str) -> None:
        """Keep the conversation with ``answer`` (once: later calls wait for the first write).
        The write goes on if the caller is cancelled meanwhile (its client left), so a
        conversation is never half-kept."""
        if self._task is None:
            messages = [*self.before, Message("assistant", answer)]
            self._task = asyncio.ensure_future(
                self.conversations.save(self.owner, self.response_id, messages)
            )
        await asyncio.shield(self._task)

    async def follow(self, runs: Runs, run_id: str) -> None:
        """Read the run's log to its end and keep the conversation if the run completed: for a
        response whose client left before the end (the run may go on: ``on_disconnect``)."""
        text, outcome = FinalText(), None
        try:
            async for batch in runs.follow(self.owner, run_id):
                for entry in batch.entries():
                    event = entry.event
                    if entry.terminal:
                        outcome = Outcome.reported(event)
                    elif event is not None:
                        text.feed(event)
            if outcome is not None and not outcome.failed:
                await self.completed(text.text)
        except MasaiError as exc:  # (the backend is down, the log is gone: nothing to keep)
            logger.warning("response %s: its conversation was not kept: %s", run_id, exc)
