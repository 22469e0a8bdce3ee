"""The server's SSE response: one run, streamed.

Unlike ``StreamingResponse`` around a generator, it owns the run's ``EventStream``: every batch
of ready events goes out in one write, while the server is busy writes to a stream are spaced
out (``WritePacing``: what arrives meanwhile joins the next one), an idle connection gets a
``: ping`` comment, and the client's disconnect is watched for explicitly, so the run is
cancelled at once rather than when a suspended generator is eventually collected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal, Protocol

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..events import StreamingEvent
from ..streaming import EventStream
from ..streaming.sse import comment
from ._pacing import WritePacing

__all__ = ("EventStreamResponse", "Outcome", "StreamEncoder")

Outcome = Literal["completed", "failed", "cancelled"]
PING = comment("ping").encode()


class StreamEncoder(Protocol):
    """Turns one stream into bytes: a head, each batch of events, and a tail."""

    def start(self) -> bytes: ...

    def events(self, batch: list[StreamingEvent]) -> bytes: ...

    def finish(self, stream: EventStream) -> bytes: ...


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        stream: EventStream,
        encoder: StreamEncoder,
        *,
        headers: dict[str, str],
        ping_interval: float,
        pacing: WritePacing | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.stream = stream
        self.encoder = encoder
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body: no content-length, streamed as it comes
        self.ping_interval = ping_interval
        self.pacing = pacing if pacing is not None else WritePacing(0.0)  # (never paces)
        self.on_done = on_done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        outcome: Outcome = "cancelled"
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                outcome = await self._pump(send)
                group.cancel_scope.cancel()
        except OSError:  # the client vanished mid-write
            outcome = "cancelled"
        finally:
            await self.stream.aclose()
            if self.on_done is not None:
                self.on_done(outcome)

    async def _pump(self, send: Send) -> Outcome:
        stream, encoder, interval = self.stream, self.encoder, self.ping_interval
        pacing = self.pacing
        loop = asyncio.get_running_loop()
        last_write = loop.time()

        async def write(body: bytes, more: bool = True) -> None:
            nonlocal last_write
            await send({"type": "http.response.body", "body": body, "more_body": more})
            last_write = loop.time()

        # One timer per stream, re-armed for when the connection would have been idle for a
        # full interval: a busy stream never pays for a timer per event.
        timer: asyncio.TimerHandle | None = None

        def check_idle() -> None:
            nonlocal timer
            idle_for = loop.time() - last_write
            if idle_for >= interval:
                stream.wake()
                idle_for = 0.0
            timer = loop.call_later(interval - idle_for, check_idle)

        timer = loop.call_later(interval, check_idle)
        try:
            stream.start()
            await write(encoder.start())
            while True:
                paced = False
                if (
                    not stream.finished
                    and (gap := pacing.gap())
                    and (wait := last_write + gap - loop.time()) > 0
                ):
                    await asyncio.sleep(wait)  # a busy server: gather events for one write
                    paced = True
                batch = await stream.next_batch()
                if batch is None:
                    break
                if batch:
                    if not paced:
                        emitted = batch[0].timestamp  # (a hand-built event may carry anything)
                        if isinstance(emitted, float):
                            pacing.waited(time.time() - emitted)
                    await write(encoder.events(batch))
                elif loop.time() - last_write >= interval:
                    await write(PING)
            await write(encoder.finish(stream), more=False)
        finally:
            if timer is not None:
                timer.cancel()
        return "failed" if stream.error is not None else "completed"
