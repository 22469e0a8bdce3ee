"""The servers of the runs benchmark, as the measures see them: a ``Target`` says how one
server's runs are started, read, resumed and waited for, so that every measure runs the same
code against masai and LangGraph (``_langgraph.LangGraph``); ``Masai`` is masai's side, on
``masai serve --config benchmarks.runs_apps:build_registry``.

Streams are read with ``_sse_reader``; the JSON calls around them are made with httpx.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx

from ._sse_reader import Reading, Request
from .http_bench import CAPS, start_masai, stop

TLS = ssl.create_default_context()  # unused on http://; one for every client


def new_client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(timeout=120, verify=TLS, limits=limits)


# -- a server, as the measures see it ----------------------------------------------------------


class Target(abc.ABC):
    """One server and how its runs are started, read, resumed and waited for."""

    name = ""
    pid = 0

    async def prepare(self, client: httpx.AsyncClient) -> Any:
        """Untimed set-up before a run (LangGraph: a thread)."""
        return None

    @abc.abstractmethod
    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        """Start a run (or get the request that starts it): its handle and the request that
        streams it from its start."""

    def located(self, run: Any, reading: Reading) -> Any:
        """The run's handle once its first stream answered (LangGraph names it only there)."""
        return run

    @abc.abstractmethod
    def resume(self, run: Any, last_id: str) -> Request:
        """The request that reads the run on from ``last_id``."""

    @abc.abstractmethod
    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        """Start a run nobody reads: its handle, and the request that reads it from its start."""

    @abc.abstractmethod
    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        """Until the run has finished, as the server says."""


class Masai(Target):
    name = "masai"

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        run_id = await self._start(client, n, interval)
        return run_id, Request("GET", f"{self.url}/runs/{run_id}/events")

    async def _start(self, client: httpx.AsyncClient, n: int, interval: float) -> str:
        response = await client.post(
            f"{self.url}/runs", json={"agent": "ticks", "query": f"{n} {interval}"}
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /runs: {response.status_code} {response.text[:500]}")
        return str(response.json()["run_id"])

    def resume(self, run: Any, last_id: str) -> Request:
        return Request("GET", f"{self.url}/runs/{run}/events", {"Last-Event-ID": last_id})

    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        return await self.begin(client, None, n, interval)

    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        for _ in range(12_000):
            status = (await client.get(f"{self.url}/runs/{run}")).json()["status"]
            if status in ("completed", "failed", "cancelled"):
                assert status == "completed", status
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"run {run} did not finish")


@contextlib.contextmanager
def masai_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = start_masai(*CAPS, config="benchmarks.runs_apps:build_registry")
    try:
        yield proc, url
    finally:
        stop(proc)
