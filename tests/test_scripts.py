"""The set-up scripts: ``scripts/find-chromium`` picks the browser the JS browser tests drive
($CHROMIUM, then a Chromium or Chrome on PATH) and ``scripts/test-js`` hands it to them
without installing anything; ``scripts/bootstrap`` says one line when .venv is up to date;
``scripts/demo`` says how to call masai. (The first set-up, which installs, is too slow here.)"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
BASH = shutil.which("bash") or "/bin/bash"


def executable(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)
    return path


def find_chromium(env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPTS / "find-chromium")],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=30,
    )


def test_chromium_from_the_environment_comes_first(tmp_path: Path) -> None:
    fake = executable(tmp_path / "my browsers" / "chrome")
    done = find_chromium({**os.environ, "CHROMIUM": str(fake)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{fake}\n"
    # A relative path is made absolute (the tests run in js/); a name is looked up on PATH.
    done = find_chromium({**os.environ, "CHROMIUM": "my browsers/chrome"}, cwd=tmp_path)
    assert done.stdout == f"{fake}\n"
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    done = find_chromium({**os.environ, "PATH": path, "CHROMIUM": "chrome"})
    assert done.stdout == f"{fake}\n"


def test_a_chromium_variable_naming_no_executable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-browser").write_text("")
    for wrong in (str(tmp_path / "not-a-browser"), str(tmp_path / "missing"), str(tmp_path)):
        done = find_chromium({**os.environ, "CHROMIUM": wrong})
        assert done.returncode == 2
        assert done.stdout == "" and f"CHROMIUM={wrong} is not an executable" in done.stderr


def test_without_the_variable_the_first_browser_on_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    chrome = executable(tmp_path / "a" / "google-chrome")
    stable = executable(tmp_path / "a" / "google-chrome-stable")
    browser = executable(tmp_path / "b" / "chromium-browser")
    done = find_chromium({**env, "PATH": f"{chrome.parent}"})
    assert done.stdout == f"{chrome}\n"
    chrome.unlink()
    done = find_chromium({**env, "PATH": f"{stable.parent}"})
    assert done.stdout == f"{stable}\n"
    # The names in order (chromium, chromium-browser, google-chrome…), not the PATH's.
    done = find_chromium({**env, "PATH": f"{stable.parent}{os.pathsep}{browser.parent}"})
    assert done.stdout == f"{browser}\n"


def test_no_browser_at_all_exits_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    nowhere = str(tmp_path / "no-such-chromium")
    done = find_chromium({**env, "PATH": str(tmp_path), "CHROMIUM_PLACES": nowhere})
    assert done.returncode == 1 and done.stdout == ""
    placed = executable(tmp_path / "opt" / "chromium")
    done = find_chromium({**env, "PATH": str(tmp_path), "CHROMIUM_PLACES": f"{nowhere} {placed}"})
    assert done.returncode == 0 and done.stdout == f"{placed}\n"


def test_the_js_tests_get_the_browser_found_and_nothing_is_installed(tmp_path: Path) -> None:
    """``scripts/test-js`` with $CHROMIUM set: npm runs the tests with that browser; apt-get
    and sudo are never called (stand-ins on PATH record any call)."""
    fake = executable(tmp_path / "browser" / "chrome")
    calls = tmp_path / "calls"
    bin_ = tmp_path / "bin"
    for name in ("apt-get", "sudo"):
        executable(bin_ / name, f'echo "{name} $*" >> "{calls}"; exit 1')
    executable(bin_ / "node", "exit 0")
    executable(bin_ / "npm", f'echo "npm $* CHROMIUM=$CHROMIUM" >> "{calls}"')
    env = {
        **os.environ,
        "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}",
        "CHROMIUM": str(fake),
        "MASAI_BIN": sys.executable,  # (no set-up of .venv)
    }
    done = subprocess.run(
        [BASH, str(SCRIPTS / "test-js")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"== browser: {fake}" in done.stdout
    recorded = calls.read_text().splitlines()
    assert not [line for line in recorded if not line.startswith("npm ")], recorded
    assert f"npm test CHROMIUM={fake}" in recorded


def fake_checkout(tmp_path: Path) -> Path:
    """The scripts and pyproject.toml, with a .venv installed from this very pyproject.toml
    (stand-ins for its programs)."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("bootstrap", "demo"):
        shutil.copy2(SCRIPTS / name, root / "scripts" / name)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    executable(root / ".venv" / "bin" / "python", 'echo "python $*" >&2; exit 1')
    executable(root / ".venv" / "bin" / "masai", 'echo "masai $*"')
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    (root / ".venv" / ".masai-installed").write_text(digest + "\n")
    return root


def test_bootstrap_on_a_warm_venv_says_one_line(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path)
    began = time.monotonic()
    done = subprocess.run(
        [BASH, str(root / "scripts" / "bootstrap")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 10
    assert done.stdout == ""
    assert done.stderr == "bootstrap: .venv is up to date\n"  # (and no pip: python not run)


def test_demo_says_how_to_call_masai(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path)
    done = subprocess.run(
        [BASH, str(root / "scripts" / "demo"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "masai serve --port 0\n"
    assert done.stderr.startswith("bootstrap: .venv is up to date\n")
    assert "masai is installed in .venv/bin" in done.stderr
    assert "`.venv/bin/masai --help`" in done.stderr
    assert "`source .venv/bin/activate`" in done.stderr


def test_the_scripts_parse() -> None:
    for script in SCRIPTS.iterdir():
        done = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
