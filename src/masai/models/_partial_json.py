"""Reading a decision's JSON while the model is still writing it.

Providers stream a structured decision as JSON text in arbitrary pieces. This parser follows the
top-level object character by character, learns ``satisfied`` / ``tool`` / ``tool_calls`` /
``delegate_to_agent`` as each completes, and streams the decoded text of ``answer`` as it grows:
escapes and surrogate pairs split across pieces are held back until complete.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._base import AnswerStream

__all__ = ("DecisionStreamParser",)

_ROUTING_KEYS = frozenset({"reasoning", "satisfied", "tool", "tool_calls", "delegate_to_agent"})
_HIGH_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}$")

# states
_BEFORE, _KEY, _COLON, _VALUE, _STRING, _OTHER, _AFTER, _DONE = range(8)


class DecisionStreamParser:
    __slots__ = (
        "_answer",
        "_answer_open",
        "_answer_raw",
        "_depth",
        "_escape",
        "_in_nested_string",
        "_key",
        "_raw",
        "_sent_raw",
        "_started",
        "_state",
        "_text",
        "values",
    )

    def __init__(self, answer: AnswerStream) -> None:
        self._answer = answer
        self._text: list[str] = []
        self._state = _BEFORE
        self._started = False  # seen the opening brace
        self._key: list[str] = []
        self._raw: list[str] = []  # the current value's raw text (strings: without quotes)
        self._answer_raw = ""  # the answer's raw text, kept after its value ends
        self._answer_open = False
        self._sent_raw = 0  # how much of the answer's raw text has been decoded and sent
        self._escape = False
        self._depth = 0
        self._in_nested_string = False
        #: Routing fields parsed so far.
        self.values: dict[str, Any] = {}

    @property
    def text(self) -> str:
        return "".join(self._text)

    async def feed(self, piece: str) -> None:
        self._text.append(piece)
        for ch in piece:
            self._step(ch)
        if self._answer_open:
            self._answer_raw = "".join(self._raw)
            await self._send_answer(final=False)
        elif self._answer_raw and self._sent_raw < len(self._answer_raw):
            await self._send_answer(final=True)

    @property
    def _current_key(self) -> str:
        return "".join(self._key)

    def _step(self, ch: str) -> None:
        state = self._state
        if state == _BEFORE:
            if ch == "{" and not self._started:
                self._started = True
            elif ch == '"' and self._started:
                self._key.clear()
                self._state = _KEY
            elif ch == "}" and self._started:
                self._state = _DONE
        elif state == _KEY:
            if self._escape:
                self._key.append(ch)
                self._escape = False
            elif ch == "\\":
                self._key.append(ch)
                self._escape = True
            elif ch == '"':
                self._state = _COLON
            else:
                self._key.append(ch)
        elif state == _COLON:
            if ch == ":":
                self._state = _VALUE
        elif state == _VALUE:
            if ch.isspace():
                return
            self._raw.clear()
            if ch == '"':
                self._state = _STRING
                if self._current_key == "answer":
                    self._answer_open = True
                    v = self.values
                    self._answer.preview(
                        satisfied=v.get("satisfied"),
                        has_tool=bool(v.get("tool")) or bool(v.get("tool_calls")),
                        delegates=bool(v.get("delegate_to_agent")),
                        reasoning=v.get("reasoning")
                        if isinstance(v.get("reasoning"), str)
                        else None,
                    )
            else:
                self._state = _OTHER
                self._depth = 1 if ch in "[{" else 0
                self._raw.append(ch)
        elif state == _STRING:
            if self._escape:
                self._escape = False
                self._raw.append(ch)
            elif ch == "\\":
                self._escape = True
                self._raw.append(ch)
            elif ch == '"':
                self._end_value(string=True)
            else:
                self._raw.append(ch)
        elif state == _OTHER:
            self._other(ch)
        elif state == _AFTER:
            if ch == ",":
                self._state = _BEFORE
            elif ch == "}":
                self._state = _DONE

    def _other(self, ch: str) -> None:
        if self._in_nested_string:
            self._raw.append(ch)
            if self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_nested_string = False
            return
        if self._depth == 0 and (ch in ",}" or ch.isspace()):
            self._end_value(string=False)
            if ch == ",":
                self._state = _BEFORE
            elif ch == "}":
                self._state = _DONE
            return
        self._raw.append(ch)
        if ch == '"':
            self._in_nested_string = True
        elif ch in "[{":
            self._depth += 1
        elif ch in "]}":
            self._depth -= 1

    def _end_value(self, *, string: bool) -> None:
        key = self._current_key
        raw = "".join(self._raw)
        if key in _ROUTING_KEYS:
            try:
                self.values[key] = json.loads(f'"{raw}"' if string else raw)
            except ValueError:
                self.values[key] = None
        self._state = _AFTER
        if string and key == "answer":
            self._answer_open = False
            self._answer_raw = raw

    async def close(self) -> None:
        """Send whatever answer text remains, even if the output stopped mid-string."""
        if self._answer_open:
            self._answer_raw = "".join(self._raw)
        if self._sent_raw < len(self._answer_raw):
            await self._send_answer(final=True)

    async def _send_answer(self, *, final: bool) -> None:
        raw = self._answer_raw
        end = len(raw)
        if not final:
            if self._escape:  # inside "\x"
                end = raw.rfind("\\")
            else:
                # inside "\uXXXX": the escape is 6 characters long
                u = raw.rfind("\\u", max(0, end - 5))
                if u != -1 and end - u < 6 and not _escaped_backslash(raw, u):
                    end = u
            if _HIGH_SURROGATE_ESCAPE.search(raw, 0, end):
                end -= 6  # keep half a surrogate pair until its other half arrives
        if end <= self._sent_raw:
            return
        try:
            text = json.loads(f'"{raw[self._sent_raw : end]}"')
        except ValueError:
            return
        self._sent_raw = end
        await self._answer.delta(text)


def _escaped_backslash(raw: str, index: int) -> bool:
    """Whether the backslash at ``index`` is itself escaped (preceded by an odd run of ``\\``)."""
    run = 0
    i = index - 1
    while i >= 0 and raw[i] == "\\":
        run += 1
        i -= 1
    return run % 2 == 1
