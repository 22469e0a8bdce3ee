"""The server's SSE response: one viewer of one run, reading the run's log from a cursor.

The run executes on its own (``streaming.Runs``); this response only reads its log, so a slow
client slows nobody, and a client that leaves loses nothing: its run goes on (or is cancelled,
if its policy says so and nobody else watches). Every batch of ready entries goes out in one
write; while the server is busy, writes to a stream are spaced out (``WritePacing``: what
arrives meanwhile joins the next one); an idle connection gets a ``: ping`` comment.

What the bytes look like is the encoder's business (``streaming.encoders.Encoder``): the spec's
chunks, with or without ``id:`` lines, OpenAI's chat chunks or Responses events, AG-UI, the
Vercel AI SDK's UI message stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..exceptions import MasaiError
from ..streaming import READ_BATCH, LogGone, RunRecord, Runs
from ..streaming.encoders import Encoder
from ..streaming.sse import comment
from ._pacing import WritePacing

__all__ = ("LogStreamResponse", "learn_usage", "read_to_end")

#: How long a viewer waits for a finished run's record to say so (the executing process
#: closes the log first, the fence against a stale worker, then updates the record).
RECORD_WAIT = 1.0

PING = comment("ping").encode()
GONE = comment("gone: the events after this point are no longer kept").encode()


class LogStreamResponse(Response):
    """``on_end``: awaited once the run's end was read, before the last frame goes out (so
    what it records is there for a client that acts on that frame); ``on_left``: awaited
    after a response whose client left before the end."""

    media_type = "text/event-stream"

    def __init__(
        self,
        runs: Runs,
        record: RunRecord,
        encoder: Encoder,
        *,
        after: int = -1,
        headers: dict[str, str],
        ping_interval: float,
        pacing: WritePacing | None = None,
        on_end: Callable[[], Awaitable[None]] | None = None,
        on_left: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.runs = runs
        self.on_end = on_end
        self.on_left = on_left
        self.record = record
        self.encoder = encoder
        self.after = after
        self.status_code = 200
        self.background = None
        self.media_type = encoder.media_type
        self.init_headers(headers)  # no body: no content-length, streamed as it comes
        self.ping_interval = ping_interval
        self.pacing = pacing if pacing is not None else WritePacing(0.0)  # (never paces)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runs, record = self.runs, self.record
        runs.attach(record)
        ended = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                ended = await self._pump(send)
                group.cancel_scope.cancel()
        except OSError:  # the client vanished mid-write
            pass
        finally:
            runs.detach(record, ended=ended)
        if not ended and self.on_left is not None:
            await self.on_left()

    async def _pump(self, send: Send) -> bool:
        """Write the stream; True once it was written to its end."""
        encoder, pacing, interval = self.encoder, self.pacing, self.ping_interval
        loop = asyncio.get_running_loop()
        last_write = loop.time()

        async def write(body: bytes, more: bool = True) -> None:
            nonlocal last_write
            await send({"type": "http.response.body", "body": body, "more_body": more})
            last_write = loop.time()

        await write(encoder.start())
        read, key, after = self.runs.log.read, self.record.key, self.after
        following = False  # caught up with the log: what comes next is live
        while True:
            paced = False
            if following and (gap := pacing.gap()) and (wait := last_write + gap - loop.time()) > 0:
                await asyncio.sleep(wait)  # a busy server: gather entries for one write
                paced = True
            quiet = max(interval - (loop.time() - last_write), 0.001)
            try:
                batch = await read(key, after, idle=quiet)
            except LogGone:  # (only for a cursor that fell out of a log still being written)
                await write(GONE, more=False)  # no [DONE]: the client reconnects, gets 410
                return False
            except MasaiError as exc:  # the backend is down: say so, never hang
                if exc.code != "backend_unavailable":
                    raise
                await write(encoder.interrupted(exc), more=False)  # (no [DONE]: reconnect later)
                return False
            if batch is None:
                break
            if batch:
                after = batch.last
                following = len(batch) < READ_BATCH
                if batch.live_since is not None and not paced:  # how late is a live write?
                    pacing.waited(loop.time() - batch.live_since)
                if batch.terminal:  # the run's end and [DONE]: one write
                    frames = encoder.entries(batch)
                    await learn_usage(self.runs, self.record, encoder)
                    last = frames + encoder.finish()
                    if self.on_end is not None:
                        await self.on_end()
                    await write(last, more=False)
                    return True
                frames = encoder.entries(batch)
                if encoder.done:  # the protocol's response ends here; the run goes on
                    await write(frames, more=False)
                    return True
                await write(frames)
            elif loop.time() - last_write >= interval:
                await write(PING)
        await learn_usage(self.runs, self.record, encoder)
        last = encoder.finish()
        if self.on_end is not None:
            await self.on_end()
        await write(last, more=False)
        return True


async def read_to_end(request: Request, runs: Runs, record: RunRecord, encoder: Encoder) -> bool:
    """Feed the run's whole log to ``encoder`` (for a response that is not streamed: the
    encoder gathers the reply and the outcome); True if the client left first. A client that
    leaves cancels the run (its policy permitting), as for a streamed one."""
    left, ended = False, False
    runs.attach(record)
    try:
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                nonlocal left
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                left = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            async for batch in runs.follow(record.owner, record.run_id):
                encoder.entries(batch)
            await learn_usage(runs, record, encoder)
            ended = True
            group.cancel_scope.cancel()
    finally:
        runs.detach(record, ended=ended)
    return left


async def learn_usage(runs: Runs, record: RunRecord, encoder: Encoder) -> None:
    """Give ``encoder`` the run's usage from its record, when another process executed the
    run (this one has no stream to ask) and the protocol reports usage. Best effort: a
    record that is gone, or not yet final within ``RECORD_WAIT``, leaves the usage unknown."""
    if encoder.watching or not encoder.reports_usage:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_WAIT
    try:
        while not (final := await runs.get(record.owner, record.run_id)).finished:
            if loop.time() >= deadline:
                return
            await asyncio.sleep(0.02)
    except MasaiError:  # (gone already, or the backend is away: no usage, not an error)
        return
    encoder.learn(final.usage)
