"""The code blocks of the spec, by section, so tests run them exactly as written."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "ENHANCED_STREAMING.md"


@dataclasses.dataclass(frozen=True)
class Block:
    section: str  # the "## " heading
    heading: str  # the "### " heading ("" directly under the section)
    lang: str
    code: str


def blocks() -> list[Block]:
    out: list[Block] = []
    section = heading = ""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section, heading = line[3:].strip(), ""
        elif line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("```"):
            lang = line[3:].strip()
            body = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(Block(section, heading, lang, "\n".join(body) + "\n"))
        i += 1
    return out


def find(section: str, heading: str = "", lang: str = "python") -> list[Block]:
    found = [
        b for b in blocks() if b.section == section and b.heading == heading and b.lang == lang
    ]
    assert found, f"no {lang} block under {section!r} / {heading!r}"
    return found


def run(code: str, namespace: dict[str, object]) -> object:
    """Execute a block; blocks with top-level ``await``/``async for`` return a coroutine."""
    compiled = compile(code, str(SPEC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return eval(compiled, namespace)
