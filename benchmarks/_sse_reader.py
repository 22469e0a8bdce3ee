"""The runs benchmark's stream reader: a raw-socket SSE client.

One request on its own connection, by hand (a socket, HTTP/1.1, chunked bodies decoded), and
regexes over whole frames rather than a parser per line. The client shares the machine with the
server it measures, and at 1 event/ms for 100 viewers on the client's one CPU, httpx's cost per
read would land in the lags it is meant to measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: A frame's ``id:`` line, and a custom event's payload (masai: in ``delta.custom_data``).
ID_LINE = re.compile(rb"(?:^|\n)id: ?([^\r\n]*)")
ITEM = re.compile(rb'"i": ?([0-9]+), ?"t": ?([0-9.]+)')
DONE = b"data: [DONE]"


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Reading:
    """What one connection brought: frame ids and custom payloads in order, and when."""

    ids: list[str] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    first_id_at: float | None = None
    first_item_at: float | None = None
    done: bool = False
    dropped: bool = False
    location: str | None = None


def frames_end(data: bytes) -> int:
    """Where the last complete SSE frame ends (frames end in a blank line, LF or CRLF)."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


@contextlib.asynccontextmanager
async def open_stream(request: Request) -> AsyncIterator[tuple[int, dict[str, str], Any]]:
    """One request on its own connection, by hand (a socket, HTTP/1.1, chunked bodies
    decoded): the status, the headers and the body as it comes, one piece per socket read.
    A stream reader's cost per read is what a client pays per event at 1 event/ms; httpx's,
    for 100 viewers on the client's one CPU, would land in the lags it is meant to measure."""
    parts = urlsplit(request.url)
    body = b"" if request.body is None else json.dumps(request.body).encode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += ["Accept: text/event-stream", *(f"{k}: {v}" for k, v in request.headers.items())]
    if request.body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        yield status, headers, _dechunked(reader) if chunked else _plain(reader)
    finally:
        writer.close()


async def _plain(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while piece := await reader.read(1 << 16):
        yield piece


async def _dechunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A chunked body's data, as much as each socket read completes (a chunk's data is passed
    on as it arrives, not held back until the whole chunk is in)."""
    buf, left, after_data = b"", 0, False
    while more := await reader.read(1 << 16):
        buf += more
        out, pos, end_of_buf = [], 0, len(buf)
        while pos < end_of_buf:
            if left:
                take = min(left, end_of_buf - pos)
                out.append(buf[pos : pos + take])
                pos, left, after_data = pos + take, left - take, True
                continue
            skip = pos + (2 if after_data else 0)  # (the CRLF after a chunk's data)
            line_end = buf.find(b"\r\n", skip)
            if line_end < 0:
                break
            size = int(buf[skip:line_end].split(b";")[0], 16)
            pos, after_data = line_end + 2, False
            if size == 0:
                if out:
                    yield b"".join(out)
                return
            left = size
        buf = buf[pos:]
        if out:
            yield b"".join(out)


async def read(request: Request, drop_after: int | None = None, lags: bool = False) -> Reading:
    """Read one stream to its end (masai: ``data: [DONE]``; LangGraph: the end of the body),
    or, with ``drop_after``, close it after the read that brought that many custom events.
    Cheap on purpose (regexes over whole frames, not a parser per line): the client shares the
    machine with the server it measures."""
    got = Reading()
    tail = b""
    async with open_stream(request) as (status, headers, pieces):
        if status != 200:
            rest = b"".join([piece async for piece in pieces])
            raise RuntimeError(f"{request.method} {request.url}: {status} {rest[:500]!r}")
        got.location = headers.get("content-location")
        opened = time.time()  # lags: live events only (emitted after the stream opened)
        async for piece in pieces:
            now = time.time()
            data = tail + piece
            cut = frames_end(data)
            if cut:
                ids = ID_LINE.findall(data, 0, cut)
                if ids:
                    got.first_id_at = got.first_id_at or now
                    got.ids += [i.decode() for i in ids]
                for i, t in ITEM.findall(data, 0, cut):
                    got.items.append(int(i))
                    if lags and float(t) >= opened:
                        got.lags.append(now - float(t))
                if got.items and got.first_item_at is None:
                    got.first_item_at = now
                if DONE in data[:cut]:
                    got.done = True
                    break
                if drop_after is not None and len(got.items) >= drop_after:
                    got.dropped = True
                    break
            tail = data[cut:]
    return got


async def count_events(request: Request, expect: int) -> int:
    """Read a stream until its end or its ``expect``-th custom event, counting custom events
    only (a regex count per read). (A LangGraph join ends up to 0.5 s after its last event: it
    polls the run's status when its queue has been empty that long.)"""
    count, tail = 0, b""
    async with open_stream(request) as (status, _, pieces):
        assert status == 200, status
        async for piece in pieces:
            data = tail + piece
            cut = frames_end(data)
            count += len(ITEM.findall(data, 0, cut))
            if count >= expect or DONE in data[:cut]:
                break
            tail = data[cut:]
    return count
