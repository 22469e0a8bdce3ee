"""Parse SSE text the way a browser does (enough for tests): frames split on blank lines.
``Sse`` reads a live stream over a raw socket, frame by frame, and can drop it abruptly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
from typing import Any, cast


def frames(text: str) -> list[str]:
    """The ``data`` payload of each message (comments skipped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [
            line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
        ]
        if data:
            out.append("\n".join(data))
    return out


def chunks(text: str) -> list[dict[str, Any]]:
    """Every JSON chunk; asserts the stream ends with exactly one ``[DONE]``."""
    payloads = frames(text)
    assert payloads and payloads[-1] == "[DONE]", payloads[-3:]
    assert payloads.count("[DONE]") == 1
    return [json.loads(p) for p in payloads[:-1]]


def events(text: str) -> list[dict[str, Any]]:
    """Only the chunks that carry an event (not the role and stop chunks)."""
    return [c for c in chunks(text) if "event_type" in c]


@dataclasses.dataclass
class Frame:
    """One SSE message: its ``id:`` (if any) and its ``data``."""

    id: int | None
    data: str

    @property
    def done(self) -> bool:
        return self.data == "[DONE]"

    @property
    def chunk(self) -> dict[str, Any]:
        return {} if self.done else cast(dict[str, Any], json.loads(self.data))

    @property
    def delta(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.chunk["choices"][0]["delta"])

    @property
    def kind(self) -> str | None:
        return self.chunk.get("event_type")


class Sse:
    """One streamed HTTP/1.1 response over a raw socket (127.0.0.1), read message by message;
    ``drop`` leaves abruptly, as a client that vanishes does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.buffer = reader, writer, b""
        self.headers: dict[str, str] = {}

    @classmethod
    async def open(
        cls,
        port: int,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        rcvbuf: int | None = None,
    ) -> Sse:
        """``GET path``, or ``POST path`` with a JSON ``body``."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # a reader that really stops taking bytes
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        sse = cls(*await asyncio.open_connection(sock=sock, limit=rcvbuf or 2**16))
        payload = json.dumps(body).encode() if body is not None else b""
        method = "GET" if body is None else "POST"
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        sse.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        async with asyncio.timeout(10):
            head = (await sse.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        for name, _, value in (h.partition(":") for h in head[1:] if h):
            sse.headers[name.lower()] = value.strip()
        assert head[0].split()[1] == "200" and sse.headers["transfer-encoding"] == "chunked", head
        return sse

    async def frame(self) -> Frame:
        """The next message (pings skipped)."""
        async with asyncio.timeout(10):
            while True:
                while b"\n\n" not in self.buffer:
                    size = int((await self.reader.readline()).split(b";")[0], 16)
                    assert size, "the stream ended without [DONE]"
                    self.buffer += (await self.reader.readexactly(size + 2))[:-2]
                block, _, self.buffer = self.buffer.partition(b"\n\n")
                lines = [line.partition(":") for line in block.decode().split("\n")]
                fields = [(k, v.removeprefix(" ")) for k, _, v in lines]
                if data := [v for k, v in fields if k == "data"]:
                    ids = [int(v) for k, v in fields if k == "id"]
                    return Frame(ids[0] if ids else None, "\n".join(data))

    async def frames(self, count: int) -> list[Frame]:
        """Up to ``count`` frames, fewer if ``[DONE]`` comes first."""
        out: list[Frame] = []
        while len(out) < count and not (out and out[-1].done):
            out.append(await self.frame())
        return out

    async def rest(self, pause: float = 0.0) -> list[Frame]:
        """Every frame to ``[DONE]`` (included), then the end of the body; closes."""
        out = [await self.frame()]
        while not out[-1].done:
            await asyncio.sleep(pause)
            out.append(await self.frame())
        assert await self.reader.readline() == b"0\r\n" and not self.buffer
        self.writer.close()
        return out

    def drop(self) -> None:
        """Leave abruptly: a TCP reset, no goodbye."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
