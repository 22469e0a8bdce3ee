"""LangGraph's side of the runs benchmark: its Agent Server (``langgraph dev``, the in-memory
runtime) serving ``langgraph_runs/graph.py``, and how its runs are started, joined and resumed.

The server is installed on first use into its own virtualenv, ``.venvs/langgraph-api`` (never
into masai's: it brings its own versions of shared dependencies); where it cannot be installed
or started, the benchmark's LangGraph columns say why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ._procs import free_port
from ._sse_reader import Reading, Request
from ._targets import Target
from ._venvs import VENVS, VenvError, venv_python

HERE = Path(__file__).resolve().parent
#: LangGraph's Agent Server, pinned: the versions the numbers in the README were taken with.
LANGGRAPH_SPEC = (
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
)
LANGGRAPH_VENV = VENVS / "langgraph-api"
LANGGRAPH_GRAPH = HERE / "langgraph_runs"
#: ``langgraph dev`` as its docs start it, without the browser and the file watcher.
LANGGRAPH_DEV = ("dev", "--no-browser", "--no-reload")


class LangGraph(Target):
    name = "langgraph"

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    def _body(self, n: int, interval: float) -> dict[str, Any]:
        return {
            "assistant_id": "ticks",
            "input": {"n": n, "interval": interval},
            "stream_mode": ["custom"],
            "stream_resumable": True,
            "on_disconnect": "continue",
        }

    async def prepare(self, client: httpx.AsyncClient) -> Any:
        response = await client.post(f"{self.url}/threads", json={})
        response.raise_for_status()
        return response.json()["thread_id"]

    async def begin(
        self, client: httpx.AsyncClient, prep: Any, n: int, interval: float
    ) -> tuple[Any, Request]:
        return None, Request(
            "POST", f"{self.url}/threads/{prep}/runs/stream", {}, self._body(n, interval)
        )

    def located(self, run: Any, reading: Reading) -> Any:
        # Content-Location: /threads/{tid}/runs/{rid}
        assert reading.location, "the run stream named no run"
        return reading.location

    def resume(self, run: Any, last_id: str) -> Request:
        headers = {"Last-Event-ID": last_id}
        return Request("GET", f"{self.url}{run}/stream?stream_mode=custom", headers)

    async def background(
        self, client: httpx.AsyncClient, n: int, interval: float
    ) -> tuple[Any, Request]:
        thread = await self.prepare(client)
        response = await client.post(
            f"{self.url}/threads/{thread}/runs", json=self._body(n, interval)
        )
        response.raise_for_status()
        run = f"/threads/{thread}/runs/{response.json()['run_id']}"
        # A join with no Last-Event-ID only gets what comes after it: "0" is before every id.
        return run, self.resume(run, "0")

    async def wait(self, client: httpx.AsyncClient, run: Any) -> None:
        response = await client.get(f"{self.url}{run}/join")
        response.raise_for_status()


def langgraph_python() -> tuple[str | None, str]:
    """The interpreter of LangGraph's own virtualenv, installing it on first use (or again when
    ``LANGGRAPH_SPEC`` changed); ``(None, why)`` if it cannot be installed here."""
    try:
        return venv_python(LANGGRAPH_VENV, LANGGRAPH_SPEC), ""
    except VenvError as exc:
        return None, str(exc)


@contextlib.contextmanager
def langgraph_server(python: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``langgraph dev --no-browser --no-reload`` on a free port, from a scratch copy of
    ``langgraph_runs`` (the in-memory runtime writes its state next to ``langgraph.json``)."""
    with tempfile.TemporaryDirectory(prefix="masai-langgraph-") as scratch:
        for name in ("graph.py", "langgraph.json"):
            shutil.copy(LANGGRAPH_GRAPH / name, scratch)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env |= {
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LOG_LEVEL": "WARNING",  # as masai serve's --log-level warning
        }
        cli = str(Path(python).parent / "langgraph")
        proc = subprocess.Popen(
            [cli, *LANGGRAPH_DEV, "--port", str(port)],
            cwd=scratch,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"langgraph dev exited with {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("langgraph dev did not answer /ok within 120 s")
                time.sleep(0.1)
            yield proc, url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
