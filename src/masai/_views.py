"""How ``masai run`` shows a run: one JSON event per line, a live terminal view (reasoning,
tool calls, progress bars, the answer as it is written, approvals), or one protocol's frames
(``--wire``)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

__all__ = ("JsonView", "TerminalView", "ask_approval", "write_wire")


class JsonView:
    def show(self, event: Any) -> None:
        from . import _json

        sys.stdout.write(_json.dumps_str(event.to_dict()) + "\n")
        sys.stdout.flush()

    def show_note(self, text: str) -> None:
        sys.stderr.write(text + "\n")

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass


class TerminalView:
    """Events as they happen; progress bars from ``custom_data.progress``; the final answer
    written out token by token.

    Everything goes through one rich ``Live`` display on the console: lines (and the answer's
    finished lines) are printed above it, and the live region below holds only what is still
    changing, the answer's unfinished line and the bars in progress. A bar that reaches 100% is
    printed once, where it finished, and leaves the region. The display is transient and
    stopped once, at the end (or around a prompt, and then a new one is started): stopping and
    restarting one ``Live`` around direct writes to stdout made it move the cursor up over, and
    erase, as many lines as it last drew, which were by then the end of the answer. Piped, the
    region is never drawn: every line is printed once, without escape sequences.
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskID, TextColumn

        self.console = Console(highlight=False)
        # Piped: no wrapping of our own (a line stays one line for grep and friends).
        self.soft_wrap = not self.console.is_terminal
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            console=self.console,
        )
        self.bars: dict[str, TaskID] = {}
        self.streaming = False  # an answer is being written out
        self.prefix = ""  # its "💬 agent: ", until its first line is printed
        self.pending = ""  # its unfinished line
        self.live: Any = None
        self.drawn = 0.0  # when the region was last redrawn at once
        self._start_live()

    # -- the live region -----------------------------------------------------------------

    def _start_live(self) -> None:
        from rich.live import Live

        # A new Live each time: one that was stopped remembers the height it last drew.
        self.live = Live(
            _Region(self),
            console=self.console,
            transient=True,
            refresh_per_second=12,  # (and at once, at most 30 times a second: _refresh)
        )
        self.live.start()

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def region(self) -> list[Any]:
        """What the live region shows now."""
        from rich.text import Text

        parts: list[Any] = []
        if self.streaming and (self.prefix or self.pending):
            line = Text(self.prefix, style="bold green") if self.prefix else Text()
            line.append(self.pending)
            parts.append(line)
        if self.progress.tasks:
            parts.append(self.progress.get_renderable())
        return parts

    def _print(self, renderable: Any, style: str = "") -> None:
        self.console.print(renderable, style=style, markup=False, soft_wrap=self.soft_wrap)

    def _line(self, text: str, style: str = "") -> None:
        self._end_answer()
        self._print(text, style)

    # -- the answer, token by token -----------------------------------------------------

    def _write(self, text: str) -> None:
        from rich.text import Text

        *done, rest = (self.pending + text).split("\n")
        self.pending = ""  # (while the finished lines are printed above it)
        for line in done:
            out = Text(self.prefix, style="bold green") if self.prefix else Text()
            out.append(line)
            self.prefix = ""
            self._print(out)
        self.pending = rest
        self._refresh()

    def _refresh(self) -> None:
        """Redraw the region now, unless it was redrawn less than 1/30 s ago (the next
        automatic refresh shows the change then)."""
        now = time.monotonic()
        if self.live is not None and now - self.drawn >= 1 / 30:
            self.drawn = now
            self.live.refresh()

    def _end_answer(self) -> None:
        if self.streaming:
            if self.prefix or self.pending:
                self._write("\n")
            self.streaming = False

    # -- events -------------------------------------------------------------------------

    def show(self, event: Any) -> None:
        data, md = event.data, event.metadata
        agent = md.get("agent") or "-"
        kind = event.event_type
        if kind == "token" and not md.get("intermediate"):
            if not self.streaming:
                self.streaming = True
                self.prefix, self.pending = f"💬 {agent}: ", ""
            self._write(str(data.get("content", "")))
        elif kind == "reasoning":
            self._line(f"💭 {agent}: {data.get('reasoning', '')}", "dim")
        elif kind == "tool_call":
            self._line(f"🔧 {agent} → {data.get('tool_name')}({data.get('tool_input')})", "cyan")
        elif kind == "custom":
            self._bar(md.get("tool_call_id") or agent, data)
        elif kind == "tool_output":
            output = str(data.get("output", ""))
            short = output if len(output) < 300 else output[:300] + "…"
            error = bool(data.get("is_error"))
            self._line(f"📤 {data.get('tool_name')}: {short}", "red" if error else "")
        elif kind == "handoff":
            self._line(
                f"🤝 {data.get('from_agent')} → {data.get('to_agent')}: {data.get('reason', '')}",
                "magenta",
            )
        elif kind == "memory_update":
            self._line(f"🧠 {data.get('agent')} set {data.get('key')}", "dim")
        elif kind == "answer":
            if self.streaming:
                self._end_answer()
            elif md.get("intermediate"):
                self._line(f"✅ {agent}: {data.get('answer', '')}", "green")
            else:
                self._line(f"💬 {agent}: {data.get('answer', '')}", "bold green")
        elif kind == "approval_required":
            call = data.get("approval") or {}
            self._line(f"✋ {call.get('tool_name')} needs your approval", "bold yellow")
        elif kind == "approval":
            call = data.get("approval") or {}
            verdict = "approved" if call.get("approved") else "denied"
            why = f": {call['reason']}" if call.get("reason") else ""
            self._line(f"✋ {call.get('tool_name')} {verdict}{why}", "yellow")
        elif kind == "error":
            self._line(f"❌ {data.get('error')}", "bold red")

    def show_note(self, text: str) -> None:
        self._line(text, "red")

    def pause(self) -> None:
        """Stop drawing (a prompt is waiting for a line): the region is cleared."""
        self._end_answer()
        self._stop_live()

    def resume(self) -> None:
        if self.live is None:
            self._start_live()

    def _bar(self, key: str, data: dict[str, Any]) -> None:
        custom = data.get("custom_data") or {}
        progress = custom.get("progress")
        description = str(data.get("content", ""))[:60]
        if not isinstance(progress, int | float):
            self._line(f"   {description}", "dim")
            return
        self._end_answer()
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(description, total=100)
        task = self.bars[key]
        self.progress.update(task, completed=float(progress) * 100, description=description)
        if progress >= 1:  # finished: printed once, where it finished, and out of the region
            self._finish_bar(key)
        else:
            self._refresh()

    def _finish_bar(self, key: str) -> None:
        task = self.bars.pop(key)
        (shown,) = [t for t in self.progress.tasks if t.id == task]
        self.progress.remove_task(task)
        self._print(self.progress.make_tasks_table([shown]))

    def close(self) -> None:
        """The end: the answer's last line and the bars left unfinished are printed once,
        then the live region is cleared and the display stopped (once)."""
        self._end_answer()
        for key in list(self.bars):
            self._finish_bar(key)
        self._stop_live()


class _Region:
    """The live region, rendered from the view's state each time it is drawn (a snapshot
    would show a bar already printed, or an answer line already written, until the next
    refresh)."""

    def __init__(self, view: TerminalView) -> None:
        self.view = view

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from self.view.region()


async def write_wire(handle: Any, wire: str) -> int:
    """The run's frames in one protocol, exactly as its route would send them."""
    from .streaming import LogBatch
    from .streaming.encoders import wire_encoder

    encoder = wire_encoder(wire, handle.record)
    encoder.watch(handle.stream)
    out = sys.stdout.buffer
    out.write(encoder.start())
    ended = False
    async for entry in handle.entries():
        batch = LogBatch(entry.seq, [entry.frame], entry.terminal)  # (head: in the frame)
        out.write(encoder.entries(batch))
        out.flush()
        if encoder.done and not ended:  # (AG-UI, the AI SDK: a response ends at an approval)
            ended = True
            sys.stderr.write(f"({wire}: the response ends here; the run goes on, and a client")
            sys.stderr.write(" would get the rest in a new request once it answers)\n")
        event = entry.event
        if event is not None and event.event_type == "approval_required":
            approved, reason = await ask_approval(JsonView(), event.data.get("approval") or {})
            call_id = event.metadata["tool_call_id"]
            await handle.approve(call_id, approved, reason=reason, by="terminal")
    out.write(encoder.finish())
    out.flush()
    return 1 if encoder.outcome.failed else 0


async def ask_approval(view: Any, call: dict[str, Any]) -> tuple[bool, str | None]:
    """y/N for a tool call that needs approval, from stdin (a terminal, or a pipe)."""
    prompt = f"Run {call.get('tool_name')}({call.get('arguments')})? [y/N] "
    view.pause()
    try:
        line = await asyncio.to_thread(_read_answer, prompt)
    finally:
        view.resume()
    if line is None:
        return False, "no answer: standard input is closed"
    if line.strip().lower() in ("y", "yes"):
        return True, None
    return False, "denied at the terminal"


def _read_answer(prompt: str) -> str | None:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line if line else None
