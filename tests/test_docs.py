"""The docs tell the truth: every Python example in them runs, every config example loads."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "configuration.md",
    ROOT / "docs" / "deploying.md",
    ROOT / "docs" / "runs.md",
    ROOT / "docs" / "protocols.md",
    ROOT / "docs" / "ag-ui.md",
    ROOT / "docs" / "openai-responses.md",
    ROOT / "docs" / "ai-sdk.md",
    ROOT / "docs" / "masai-compat.md",
]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
#: A Python block followed by "prints" and a ``text`` block: what it must print, exactly.
PRINTS = re.compile(r"^```python\n(.*?)^```\n\nprints\n\n```text\n(.*?)^```", re.M | re.S)


def blocks(lang: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for i, match in enumerate(FENCE.finditer(doc.read_text(encoding="utf-8"))):
            if match.group(1) == lang:
                found.append((f"{doc.name}#{i}", match.group(2)))
    return found


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=[w for w, _ in blocks("python")])
def test_python_examples_run(where: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASAI_DEMO_PACE", "0")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), {"__name__": "__main__"})
    namespace_output = out.getvalue()
    if "print(" in code:
        assert namespace_output, f"{where} printed nothing"


def printed() -> list[tuple[str, str, str]]:
    return [
        (f"{doc.name}#{i}", match.group(1), match.group(2))
        for doc in DOCS
        for i, match in enumerate(PRINTS.finditer(doc.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize(("where", "code", "expected"), printed(), ids=[w for w, *_ in printed()])
def test_examples_print_what_the_docs_say(where: str, code: str, expected: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), {"__name__": "__main__"})
    assert out.getvalue() == expected


@pytest.mark.parametrize(("where", "text"), blocks("toml"), ids=[w for w, _ in blocks("toml")])
def test_config_examples_load(where: str, text: str, tmp_path: Path) -> None:
    from masai.server import ServerSettings, load_config

    path = tmp_path / "example.toml"
    path.write_text(text)
    registry, server = load_config(str(path))
    assert registry.targets and (registry.default is None or registry.default in registry.targets)
    ServerSettings.build(server)  # a [server] table holds only real settings, valid ones


def test_the_deploying_page_gives_every_setting_and_its_default() -> None:
    from masai.server import ServerSettings

    page = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| `")
    }
    documented = {name.strip("` ") for key in rows for name in key.split(",")}
    for name, field in ServerSettings.model_fields.items():
        assert name in documented, f"{name} is missing from the settings table"
        row = next(line for key, line in rows.items() if f"`{name}`" in key)
        default = field.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        assert shown in row, (name, shown, row)


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run(example: Path) -> None:
    import subprocess
    import sys

    from tests.support.sse import chunks

    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    frames = chunks(done.stdout)  # ends with exactly one [DONE]
    assert frames[-1]["choices"][0]["finish_reason"] == "stop"
    assert {f.get("event_type") for f in frames} >= {"tool_call", "custom", "tool_output", "answer"}
