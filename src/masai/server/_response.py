"""The server's SSE response: one run, streamed.

Unlike ``StreamingResponse`` around a generator, it owns the run's ``EventStream``: every batch
of ready events goes out in one write, an idle connection gets a ``: ping`` comment, and the
client's disconnect is watched for explicitly, so the run is cancelled at once rather than when
a suspended generator is eventually collected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..events import StreamingEvent
from ..streaming import EventStream

__all__ = ("EventStreamResponse", "Outcome", "StreamEncoder")

Outcome = Literal["completed", "failed", "cancelled"]
PING = b": ping\n\n"


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
        on_done: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.stream = stream
        self.encoder = encoder
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body: no content-length, streamed as it comes
        self.ping_interval = ping_interval
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
        stream, encoder = self.stream, self.encoder

        async def write(body: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": body, "more_body": more})

        stream.start()
        await write(encoder.start())
        while True:
            with anyio.move_on_after(self.ping_interval) as idle:
                batch = await stream.next_batch()
            if idle.cancelled_caught:
                await write(PING)
                continue
            if batch is None:
                break
            await write(encoder.events(batch))
        await write(encoder.finish(stream), more=False)
        return "failed" if stream.error is not None else "completed"
