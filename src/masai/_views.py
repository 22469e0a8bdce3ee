"""How ``masai run`` shows a run: one JSON event per line, a live terminal view (reasoning,
tool calls, progress bars, the answer as it is written, approvals), or one protocol's frames
(``--wire``)."""

from __future__ import annotations

import asyncio
import sys
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
    written out token by token."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskID, TextColumn

        self.console = Console(highlight=False)
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            console=self.console,
        )
        self.bars: dict[str, TaskID] = {}
        self.streaming = False
        self.progress.start()

    def _line(self, text: str, style: str = "") -> None:
        self._end_answer()
        self.progress.console.print(text, style=style, markup=False)

    def _end_answer(self) -> None:
        if self.streaming:
            sys.stdout.write("\n")
            self.streaming = False
            self.progress.start()

    def show(self, event: Any) -> None:
        data, md = event.data, event.metadata
        agent = md.get("agent") or "-"
        kind = event.event_type
        if kind == "token" and not md.get("intermediate"):
            if not self.streaming:
                self.progress.stop()
                self.console.print(f"💬 {agent}: ", end="", style="bold green", markup=False)
                self.streaming = True
            sys.stdout.write(str(data.get("content", "")))
            sys.stdout.flush()
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
        """Stop drawing (a prompt is waiting for a line)."""
        self._end_answer()
        self.progress.stop()

    def resume(self) -> None:
        self.progress.start()

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
        self.progress.update(
            self.bars[key], completed=float(progress) * 100, description=description
        )

    def close(self) -> None:
        self._end_answer()
        self.progress.stop()


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
