"""The server's SSE response: one viewer of one run, reading the run's log from a cursor.

The run executes on its own (``streaming.Runs``); this response only reads its log, so a slow
client slows nobody, and a client that leaves loses nothing: its run goes on (or is cancelled,
if its policy says so and nobody else watches). Every batch of ready entries goes out in one
write; while the server is busy, writes to a stream are spaced out (``WritePacing``: what
arrives meanwhile joins the next one); an idle connection gets a ``: ping`` comment.

What the bytes look like is the encoder's business (``StreamEncoder``): the spec's chunks, with
or without ``id:`` lines, or OpenAI's chat chunks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..events import StreamingEvent
from ..exceptions import MasaiError
from ..streaming import READ_BATCH, ChunkEncoder, LogBatch, LogGone, RunRecord, Runs
from ..streaming.sse import DONE, comment
from ._pacing import WritePacing

__all__ = ("IdFrames", "LogStreamResponse", "SpecFrames", "StreamEncoder")

PING = comment("ping").encode()
GONE = comment("gone: the events after this point are no longer kept").encode()


class StreamEncoder(Protocol):
    """Turns one viewer's read of a run's log into bytes: a head, each batch, and a tail."""

    def start(self) -> bytes: ...

    def entries(self, batch: LogBatch) -> bytes: ...

    def finish(self) -> bytes: ...


class SpecFrames:
    """The spec's chunks as the streaming routes send them: role chunk, frames, ``[DONE]``."""

    def __init__(self, role_chunk: bytes) -> None:
        self.role_chunk = role_chunk

    def start(self) -> bytes:
        return self.role_chunk

    def entries(self, batch: LogBatch) -> bytes:
        return batch.data

    def finish(self) -> bytes:
        return DONE.encode()


class IdFrames(SpecFrames):
    """``GET /runs/{id}/events``: the same frames, each with ``id: <seq>`` (the cursor an
    ``EventSource`` sends back as ``Last-Event-ID``)."""

    def entries(self, batch: LogBatch) -> bytes:
        first, head = batch.first, batch.head
        return b"".join([b"id: %d\n%b%b" % (first + i, head, t) for i, t in enumerate(batch.tails)])


class LogStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        runs: Runs,
        record: RunRecord,
        encoder: StreamEncoder,
        *,
        after: int = -1,
        headers: dict[str, str],
        ping_interval: float,
        pacing: WritePacing | None = None,
    ) -> None:
        self.runs = runs
        self.record = record
        self.encoder = encoder
        self.after = after
        self.status_code = 200
        self.background = None
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

    def unavailable(self, error: MasaiError) -> bytes:
        """The frame that ends a stream whose log cannot be read: an ``error`` event (not
        numbered: it is this connection's, not the run's) with ``error_code``."""
        record = self.record
        encoder = ChunkEncoder(record.model, f"chatcmpl-{record.run_id}", record.created)
        metadata = {"run_id": record.run_id, "seq": None, "error_code": error.code}
        data = {"error": error.public_message, "code": error.code}
        return encoder.event(StreamingEvent("error", data, metadata))

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
                await write(self.unavailable(exc), more=False)  # (no [DONE]: reconnect later)
                return False
            if batch is None:
                break
            if batch:
                after = batch.last
                following = len(batch) < READ_BATCH
                if batch.live_since is not None and not paced:  # how late is a live write?
                    pacing.waited(loop.time() - batch.live_since)
                if batch.terminal:  # the run's end and [DONE]: one write
                    await write(encoder.entries(batch) + encoder.finish(), more=False)
                    return True
                await write(encoder.entries(batch))
            elif loop.time() - last_write >= interval:
                await write(PING)
        await write(encoder.finish(), more=False)
        return True
