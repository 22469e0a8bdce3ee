"""A real deployment for tests: a private Redis, API servers and workers as subprocesses.

The agents here write a ledger line (to the file ``MASAI_TEST_LEDGER`` names) when a tool
starts and when it ends, with the worker's pid, so a test can tell which worker is inside
which tool (to ``kill -9`` it there) and count how often each step really ran.

- ``stepper``: runs ``step(n)`` for n = 1..steps, one after the other, then answers. The query
  says how: ``"steps=3 seconds=1.5 tag=abc"``. Each step emits a progress event every 0.1 s.
- ``payer``: calls ``pay`` once, a tool declared ``idempotent=False``; ``seconds=`` as above.
- ``publisher``: calls ``publish`` once, which needs a person's approval.
- ``echo``: answers with the conversation it was shown (sessions across workers).
- ``relay`` (a system): ``first`` runs ``step(1)`` and hands off to ``second``, whose ``recall``
  reads what ``first`` left in the run's shared memory.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from masai import AgentDetails, AgentManager, FunctionModel, emit_custom_event, tool
from masai.agents import get_run_context
from masai.models import ModelRequest
from masai.server import Registry
from masai.systems import MultiAgentSystem

from .redis import RedisServer
from .registries import echo

CONFIG = "tests.support.cluster:cluster_registry"


def _option(request: ModelRequest, name: str, default: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", " ".join(m.content for m in request.messages))
    return found.group(1) if found else default


def _ledger(line: str) -> None:
    path = os.environ.get("MASAI_TEST_LEDGER")
    if path:
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(f"{line} pid={os.getpid()}\n")


async def _work(tag: str, name: str, seconds: float) -> None:
    _ledger(f"{tag} {name} start")
    ticks = max(int(seconds / 0.1), 1)
    for i in range(ticks):
        await asyncio.sleep(seconds / ticks)
        await emit_custom_event({"step": name, "tick": i})
    _ledger(f"{tag} {name} end")


@tool
async def step(n: int, seconds: float, tag: str) -> str:
    """One step of work."""
    await _work(tag, f"step{n}", seconds)
    return f"step {n} done"


@tool(idempotent=False)
async def pay(seconds: float, tag: str) -> str:
    """Sends a payment (never twice)."""
    await _work(tag, "pay", seconds)
    return "paid"


@tool(requires_approval=True)
async def publish(tag: str) -> str:
    """Publishes (after a person approved it)."""
    _ledger(f"{tag} publish end")
    return "published"


@tool
async def recall(seconds: float, tag: str) -> str:
    """Reads what the first agent left in the run's shared memory (on Redis), slowly."""
    context = get_run_context()
    assert context is not None
    await _work(tag, "recall", seconds)
    return f"recalled: {await context.shared.get('answer:first')}"


def _first(request: ModelRequest) -> dict[str, Any]:
    tag = _option(request, "tag", "run")
    if "step 1 done" in request.messages[-1].content:
        return {
            "delegate_to_agent": "second",
            "answer": f"first says {tag}",
            "reasoning": "hand on",
        }
    return {"tool": "step", "tool_input": {"n": 1, "seconds": 0.3, "tag": tag}}


def _second(request: ModelRequest) -> dict[str, Any]:
    last = request.messages[-1].content
    if last.startswith("Tool results:"):
        return {"satisfied": True, "answer": last.removeprefix("Tool results:\n")}
    seconds = float(_option(request, "seconds", "1"))
    return {
        "tool": "recall",
        "tool_input": {"seconds": seconds, "tag": _option(request, "tag", "run")},
    }


def _stepper(request: ModelRequest) -> dict[str, Any]:
    steps = int(_option(request, "steps", "3"))
    seconds = float(_option(request, "seconds", "0.5"))
    tag = _option(request, "tag", "run")
    done = re.findall(r"step (\d+) done", request.messages[-1].content)
    n = int(done[-1]) + 1 if done else 1
    if n > steps:
        return {"satisfied": True, "answer": f"all {steps} steps done ({tag})"}
    return {"tool": "step", "tool_input": {"n": n, "seconds": seconds, "tag": tag}}


def _once(tool_name: str, **extra: Any) -> FunctionModel:
    def decide(request: ModelRequest) -> dict[str, Any]:
        last = request.messages[-1].content
        if last.startswith("Tool results:"):
            return {"satisfied": True, "answer": last.removeprefix("Tool results:\n")}
        options = {"tag": _option(request, "tag", "run")}
        if tool_name == "pay":
            options["seconds"] = float(_option(request, "seconds", "1"))
        return {"tool": tool_name, "tool_input": options | extra}

    return FunctionModel(decide)


def cluster_registry() -> Registry:
    manager = AgentManager(logging=False)
    manager.create_agent("stepper", [step], AgentDetails(["steps"]), model=FunctionModel(_stepper))
    manager.create_agent("echo", [], AgentDetails(["echoing"]), model=FunctionModel(echo))
    manager.create_agent("payer", [pay], AgentDetails(["paying"]), model=_once("pay"))
    manager.create_agent(
        "publisher", [publish], AgentDetails(["publishing"]), model=_once("publish")
    )
    manager.create_agent("first", [step], AgentDetails(["starting"]), model=FunctionModel(_first))
    manager.create_agent(
        "second", [recall], AgentDetails(["finishing"]), model=FunctionModel(_second)
    )
    registry = Registry(manager)
    registry.add_system(
        "relay", MultiAgentSystem(agentManager=manager), mode="decentralized", entry_agent="first"
    )
    return registry


class Process:
    """One ``masai`` subprocess; ``ready`` is the line it announced itself with."""

    def __init__(self, args: list[str], env: dict[str, str], expect: str) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "masai", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if expect in line:
                self.ready = line.strip()
                return
        self.process.kill()
        raise RuntimeError(f"masai {args[0]} did not start: {''.join(self.lines)[-2000:]}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Server(Process):
    def __init__(self, backend: str, env: dict[str, str], *extra: str) -> None:
        args = ["serve", "--port", "0", "--backend", backend, "--config", CONFIG, *extra]
        super().__init__(args, env, "masai serving on")
        self.url = self.ready.rsplit(" ", 1)[-1]

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=options.pop("timeout", 30), **options)


class Worker(Process):
    def __init__(self, backend: str, env: dict[str, str], *extra: str) -> None:
        args = ["worker", "--backend", backend, "--config", CONFIG, *extra]
        super().__init__(args, env, "masai worker")


class Cluster:
    """Redis, API servers and workers, all stopped by ``close``."""

    def __init__(self, tmp: Path, *, lease: float = 2.0) -> None:
        self.redis = RedisServer()
        self.redis.start()
        self.ledger = tmp / "ledger.txt"
        self.ledger.touch()
        self.env = {**os.environ, "MASAI_TEST_LEDGER": str(self.ledger)}
        self.lease = lease
        self.servers: list[Server] = []
        self.workers: list[Worker] = []

    def server(self, *extra: str) -> Server:
        server = Server(self.redis.url, self.env, *extra)
        self.servers.append(server)
        return server

    def worker(self, *extra: str) -> Worker:
        args = ("--worker-lease", str(self.lease), "--grace", "0", *extra)
        worker = Worker(self.redis.url, self.env, *args)
        self.workers.append(worker)
        return worker

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().splitlines()

    def wait_ledger(self, text: str, within: float = 20.0) -> str:
        """The first ledger line containing ``text`` (waits for it)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.ledger_lines():
                if text in line:
                    return line
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never in the ledger: {self.ledger_lines()}")

    def close(self) -> None:
        for process in [*self.servers, *self.workers]:
            process.stop()
        self.redis.stop()
