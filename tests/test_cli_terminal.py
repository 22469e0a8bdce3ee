"""``masai run`` as people see it: in a real (pseudo-)terminal, replayed through a terminal
emulator (pyte), the whole final answer stays on the screen, with each finished progress bar
shown once and nothing left of the live display; piped, each line comes once and without
escape sequences. Also ``masai serve`` on a port something else listens on."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parents[1]
QUERY = "What are the trends in AI?"
RUN = [sys.executable, "-m", "masai", "run", "--mas", "supervised", QUERY]
COLUMNS, LINES = 100, 40


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STYLE_VARIABLES}
    return {**env, "MASAI_DEMO_PACE": "0", **extra}


#: Variables that change how rich decides what the terminal can do.
_STYLE_VARIABLES = {"NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERM"}
_STYLE_VARIABLES |= {"COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES"}


@functools.cache
def final_answer() -> list[str]:
    """The answer the run produces, from ``masai run --json``, line by line, as shown (after
    its agent's name)."""
    done = subprocess.run(
        [*RUN, "--json"], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (last,) = [
        e for e in events if e["event_type"] == "answer" and not e["metadata"].get("intermediate")
    ]
    lines = str(last["data"]["answer"]).split("\n")
    return [f"💬 {last['metadata']['agent']}: {lines[0]}", *lines[1:]]


def run_in_terminal(pace: str) -> tuple[int, bytes]:
    """``masai run`` on a pseudo-terminal of COLUMNS x LINES: its exit status and every byte
    it wrote there."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = _env(MASAI_DEMO_PACE=pace, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    process = subprocess.Popen(
        RUN, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # (EIO: every copy of the terminal's other side is closed)
                break
            if not chunk:
                break
            out += chunk
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, bytes(out)


def screen_text(output: bytes) -> list[str]:
    """What a COLUMNS x LINES terminal shows after ``output``, with the lines that scrolled
    off the top before it, trailing blank lines removed."""
    screen = pyte.HistoryScreen(COLUMNS, LINES, history=10_000)
    # (pyte 0.8 loses the rest of a line after U+FE0F, the emoji selector of the demo's ✍️)
    pyte.ByteStream(screen).feed(output.replace("\ufe0f".encode(), b""))

    def text(line: dict[int, pyte.screens.Char]) -> str:
        return "".join(line[x].data for x in range(COLUMNS)).rstrip()

    rows = [text(line) for line in screen.history.top] + [
        text(screen.buffer[y]) for y in range(LINES)
    ]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def test_the_whole_answer_stays_on_the_terminal() -> None:
    answer = final_answer()
    assert len(answer) > 2 and all(len(line) < COLUMNS for line in answer)
    # Paced, so that the live display is drawn, and redrawn, while the answer streams.
    code, output = run_in_terminal(pace="0.05")
    assert code == 0, output.decode(errors="replace")
    assert b"\x1b[" in output  # (a terminal: rich drew its live display)
    rows = screen_text(output)
    # The answer is the last thing on the screen, every line of it, once.
    assert rows[-len(answer) :] == answer, "\n".join(rows[-15:])
    for line in answer:
        if line:
            assert sum(line in row for row in rows[-len(answer) :]) == 1
    # Each finished bar once, where it finished; nothing of the live region is left.
    bars = [row for row in rows if row.endswith("%")]
    assert len(bars) == 3, "\n".join(rows)
    assert all(row.endswith("100%") for row in bars)
    for stage in ("🔍 done", "🧮 summarising", "drafting"):
        assert sum(stage in row for row in rows) == 1, stage
    assert not any("fetching snippets" in row for row in rows)  # (a bar's earlier stage)


def test_piped_output_has_each_line_once_and_no_escapes() -> None:
    answer = final_answer()
    done = subprocess.run(RUN, capture_output=True, cwd=ROOT, env=_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout
    lines = done.stdout.decode().splitlines()
    assert lines[-len(answer) :] == answer
    assert sum(answer[0] == line for line in lines) == 1
    bars = [line for line in lines if line.endswith("%")]
    assert len(bars) == 3 and all(line.endswith("100%") for line in bars)
    assert len(set(bars)) == 3


def test_a_busy_port_gets_a_clear_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "masai", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_env(),
            timeout=60,
        )
    assert done.returncode == 2
    assert "Errno" not in done.stderr
    (message,) = done.stderr.splitlines()
    assert f"port {port}" in message and "already in use" in message
    assert "--port 0" in message
