"""A server's CPU time and CPU placement, for its whole process tree.

A server is more than its first process: ``langgraph dev`` runs its API in a child process, and
either server's thread pools come and go. Its CPU is read from ``/proc`` for every thread of
every process under it: each thread's ``schedstat`` (ns), or the processes' tick counts if a
thread exited meanwhile (its time would be missed otherwise).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .http_bench import pin


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of process ``pid`` so far (every thread, exited ones too), in
    clock ticks (``SC_CLK_TCK`` a second, 10 ms each)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (every thread, exited ones
    too), counted in clock ticks (10 ms)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_ticks(p)
    return total / os.sysconf("SC_CLK_TCK")


def _task_ns(pid: int) -> dict[int, int]:
    """Nanoseconds on CPU of every live thread of ``pid`` and its descendants (schedstat)."""
    found: dict[int, int] = {}
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
    return found


@dataclass
class CpuMark:
    ticks: float
    tasks: dict[int, int]


def cpu_mark(pid: int) -> CpuMark:
    return CpuMark(_ticks(pid), _task_ns(pid))


def cpu_since(pid: int, mark: CpuMark) -> float:
    """CPU seconds the server's process tree used since ``mark``: to the nanosecond from each
    thread's schedstat, or, if a thread exited in between (its time would be missed), from the
    processes' tick counts."""
    now = _task_ns(pid)
    if set(mark.tasks) <= set(now):
        return sum(ns - mark.tasks.get(tid, 0) for tid, ns in now.items()) / 1e9
    return _ticks(pid) - mark.ticks


def pin_tree(pid: int, index: int) -> None:
    """Every thread of ``pid`` and its descendants on the ``index``-th CPU (threads made before
    pinning keep their own affinity: each one is pinned)."""
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    pin(int(task.name), index)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
