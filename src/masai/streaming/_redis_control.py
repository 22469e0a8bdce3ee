"""``Control`` over Redis: an API server sends cancel and approval messages to the worker that
executes a run, and gets the worker's reply (or its refusal).

Layout (``K`` the run's storage key):

- ``p ctl:{K}``: the run's pub/sub channel.
- ``p ctl:{K}:cancel``: set by a cancel (the sender), so a worker that takes the run over later,
  or starts a queued one, sees it (``cancelled``).
- ``p ctl:{K}:decisions``: hash, tool call id -> the decision (JSON body plus ``sender``); the
  first decision stored wins, and one the run refused is removed again (``decision``).
- ``p reply:{id}``: list the listener pushes its reply on; the sender pops it (``BLPOP``, at
  most ``reply_timeout`` seconds). It expires shortly, so a reply nobody waits for is forgotten.

Each process has ONE pub/sub connection, whatever the number of runs it executes: a background
task (started by the first ``listen``) subscribes and unsubscribes channels as listeners come
and go, and runs each message's listener in a task of its own, so a slow listener delays no
other run. A message published while no process listens is not lost: it was stored first, and
``send`` returns ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from redis import exceptions as rex
from redis.asyncio.client import PubSub

from .._json import dumps
from ..exceptions import MasaiError
from ._control import ControlMessage, Listener, NotListening
from ._handle import ApprovalConflict
from ._redis import MAX_BLOCK, RedisBackend
from ._runstore import RunRecord

__all__ = ("RedisControl",)

logger = logging.getLogger("masai.redis")

#: How long a reply waits for its sender, in ms (the sender waits ``reply_timeout`` at most).
REPLY_TTL_MS = 60_000
#: How long the listener task waits for a message before it looks at its subscriptions again.
POLL = 0.02
#: Pause after a failed pub/sub call before trying again (Redis is down).
RECONNECT_PAUSE = 0.5


class RedisControl:
    """Messages to runs over Redis pub/sub with a reply (see the module's doc).

    ``ttl``: seconds a stored cancel or decision is kept (longer than a run may wait for an
    approval). ``reply_timeout``: how long ``send`` waits for a listener's reply; without one it
    returns ``None`` (the message is stored)."""

    def __init__(
        self,
        backend: RedisBackend,
        *,
        ttl: float = 7 * 24 * 3600.0,
        reply_timeout: float = MAX_BLOCK,
    ) -> None:
        if ttl <= 0 or not 0 < reply_timeout <= MAX_BLOCK:
            raise ValueError(f"ttl must be > 0 and reply_timeout in (0, {MAX_BLOCK}]")
        self.backend = backend
        self.ttl_ms = int(ttl * 1000)
        self.reply_timeout = reply_timeout
        self._listeners: dict[str, Listener] = {}  # by channel
        self._subscribed: dict[str, asyncio.Event] = {}  # channel -> confirmed by Redis
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    # -- keys --------------------------------------------------------------------------------
    def _channel(self, key: str) -> str:
        return self.backend.key("ctl", "{" + key + "}")

    def _cancel_key(self, key: str) -> str:
        return self._channel(key) + ":cancel"

    def _decisions_key(self, key: str) -> str:
        return self._channel(key) + ":decisions"

    # -- listening (the worker) --------------------------------------------------------------
    def listen(self, key: str, listener: Listener) -> Callable[[], None]:
        channel = self._channel(key)
        self._listeners[channel] = listener
        self._subscribed.setdefault(channel, asyncio.Event())
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen_loop())

        def stop() -> None:
            if self._listeners.get(channel) is listener:
                del self._listeners[channel]
                self._changed.set()

        return stop

    async def ready(self, key: str, within: float = MAX_BLOCK) -> bool:
        """Wait until Redis confirms the run's channel is subscribed (after ``listen``): from
        then on no message sent is missed. Then check ``cancelled``, for the ones before."""
        event = self._subscribed.get(self._channel(key))
        if event is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)
        return event.is_set()

    async def _listen_loop(self) -> None:
        pubsub = self.backend.client.pubsub()
        try:
            while True:
                try:
                    await self._sync(pubsub)
                    if not (pubsub.subscribed or self._listeners):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), 1.0)
                        continue
                    message = await pubsub.get_message(timeout=POLL)
                except (rex.RedisError, OSError) as exc:
                    logger.warning("redis control: pub/sub failed (%s)", type(exc).__name__)
                    self._changed.set()  # (look at the subscriptions again once it is back)
                    for event in self._subscribed.values():
                        event.clear()  # (redis-py resubscribes them on reconnecting)
                    await asyncio.sleep(RECONNECT_PAUSE)
                    continue
                if message is not None:
                    self._on_message(message)
        finally:
            with contextlib.suppress(rex.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _sync(self, pubsub: PubSub) -> None:
        """Subscribe the channels that got a listener, unsubscribe those that lost theirs."""
        if not self._changed.is_set():
            return
        self._changed.clear()
        known = {_text(c) for c in pubsub.channels}
        wanted = set(self._listeners)
        if added := wanted - known:
            await pubsub.subscribe(*added)
        if removed := known - wanted:
            await pubsub.unsubscribe(*removed)
            for channel in removed:
                self._subscribed.pop(channel, None)

    def _on_message(self, message: dict[str, Any]) -> None:
        channel = _text(message["channel"])
        kind = message["type"]
        if kind == "subscribe" and channel in self._subscribed:
            self._subscribed[channel].set()
        elif kind == "unsubscribe" and channel in self._listeners:
            # (listened to again while its unsubscribe was on its way: subscribe it anew)
            self._subscribed[channel].clear()
            self._changed.set()
        elif kind == "message":
            task = asyncio.get_running_loop().create_task(self._handle(channel, message["data"]))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _handle(self, channel: str, data: bytes) -> None:
        """Run the listener on one message and push its reply (or its error)."""
        try:
            raw = orjson.loads(data)
            reply_to = str(raw["reply"])
            message = ControlMessage(kind=raw["kind"], sender=raw.get("sender"), body=raw["body"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("redis control: ignoring a malformed message on %s", channel)
            return
        listener = self._listeners.get(channel)
        reply: dict[str, Any]
        try:
            if listener is None:
                raise NotListening(channel)
            reply = _encode_reply(await listener(message))
        except Exception as exc:
            if not isinstance(exc, MasaiError | NotListening):
                logger.exception("redis control: the listener of %s failed", channel)
            reply = {"error": _encode_error(exc)}
        reply_key = self.backend.key("reply", reply_to)
        try:
            async with self.backend.client.pipeline(transaction=True) as pipe:
                pipe.lpush(reply_key, dumps(reply))
                pipe.pexpire(reply_key, REPLY_TTL_MS)
                await pipe.execute()
        except (rex.RedisError, OSError) as exc:
            logger.warning("redis control: could not reply on %s (%s)", channel, exc)

    # -- sending (an API server) -------------------------------------------------------------
    async def send(self, key: str, message: ControlMessage) -> Any:
        """Store the message (for a later worker), publish it, and return the listener's reply,
        or raise its error. ``None``: no process listens now, or none replied in time."""
        reply_id = secrets.token_hex(16)
        payload = dumps(
            {
                "reply": reply_id,
                "kind": message.kind,
                "sender": message.sender,
                "body": message.body,
            }
        )
        call_id = str(message.body.get("tool_call_id", ""))
        client = self.backend.client
        with self.backend.unavailable():
            stored = await self._store(key, message, call_id)
            if message.kind == "approval" and not stored:  # (one is kept: the first wins)
                raise ApprovalConflict(f"tool call {call_id} was decided already")
            if not await client.publish(self._channel(key), payload):
                return None
            got = await client.blpop([self.backend.key("reply", reply_id)], self.reply_timeout)
        if got is None:
            logger.warning("redis control: no reply to a %s message in time", message.kind)
            return None
        reply: dict[str, Any] = orjson.loads(got[1])
        if "error" in reply:
            if stored:  # (refused: a later worker must not apply it)
                with self.backend.unavailable():
                    await client.hdel(self._decisions_key(key), call_id)
            raise _decode_error(reply["error"])
        if "record" in reply:
            return RunRecord.from_dict(reply["record"])
        return reply.get("value")

    async def _store(self, key: str, message: ControlMessage, call_id: str) -> bool:
        """Keep the message where a worker looks for it; True if a decision was stored now."""
        client = self.backend.client
        if message.kind == "cancel":
            await client.set(self._cancel_key(key), message.sender or "", px=self.ttl_ms)
            return False
        if not call_id:
            return False
        decisions = self._decisions_key(key)
        async with client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(decisions, call_id, dumps({**message.body, "sender": message.sender}))
            pipe.pexpire(decisions, self.ttl_ms)
            stored, _ = await pipe.execute()
        return bool(stored)

    # -- for workers -------------------------------------------------------------------------
    async def cancelled(self, key: str) -> bool:
        """Whether the run was asked to stop (by any server, at any time)."""
        with self.backend.unavailable():
            return bool(await self.backend.client.exists(self._cancel_key(key)))

    async def decision(self, key: str, tool_call_id: str) -> dict[str, Any] | None:
        """The decision stored for that tool call (its body plus ``sender``), if any."""
        with self.backend.unavailable():
            raw = await self.backend.client.hget(self._decisions_key(key), tool_call_id)
        return None if raw is None else dict(orjson.loads(raw))

    async def forget(self, key: str) -> None:
        """Drop what is stored for the run (it has finished)."""
        with self.backend.unavailable():
            await self.backend.client.delete(self._cancel_key(key), self._decisions_key(key))

    async def aclose(self) -> None:
        """Stop listening (the pub/sub connection is closed) and the listeners in flight."""
        tasks = [t for t in (self._task, *self._handling) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._listeners.clear()
        self._subscribed.clear()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode_reply(value: Any) -> dict[str, Any]:
    if isinstance(value, RunRecord):
        return {"record": value.to_dict()}
    return {"value": value}


def _encode_error(exc: BaseException) -> dict[str, str]:
    kind = type(exc)
    return {"module": kind.__module__, "name": kind.__qualname__, "message": str(exc)}


def _decode_error(error: dict[str, Any]) -> BaseException:
    """The listener's error as the same class: a masai error (by its module and name, only
    ever looked up in masai's own modules) or ``NotListening``; else a plain ``MasaiError``."""
    module, name, text = str(error["module"]), str(error["name"]), str(error["message"])
    kind: type[BaseException] = MasaiError
    if name == NotListening.__qualname__:
        kind = NotListening
    elif module == "masai" or module.startswith("masai."):
        try:
            found: Any = importlib.import_module(module)
            for part in name.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
        if isinstance(found, type) and issubclass(found, MasaiError):
            kind = found
    try:
        return kind(text)
    except Exception:
        return MasaiError(text)
