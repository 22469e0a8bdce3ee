"""The benchmarks' baselines in virtualenvs of their own (``benchmarks/.venvs``), never in
masai's: the reference masai-framework and LangGraph's Agent Server would otherwise pull their
own versions of shared dependencies into the environment that is being measured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Where the virtualenvs live (git-ignored).
VENVS = Path(__file__).resolve().parent / ".venvs"


class VenvError(RuntimeError):
    """A virtualenv could not be made or its packages not installed."""


def venv_python(path: Path, packages: tuple[str, ...], *, no_deps: bool = False) -> str:
    """The interpreter of a virtualenv at ``path`` holding ``packages``, made on first use and
    made again from scratch when the spec changed (a stamp file in the virtualenv records the
    spec it was installed with). ``no_deps``: install the packages alone, without their
    dependencies. Raises ``VenvError`` (pip's last words in its message) if it cannot."""
    python = path / "bin" / "python"
    stamp = path / ".installed"
    spec = " ".join((*(("--no-deps",) if no_deps else ()), *packages))
    if python.exists() and stamp.exists() and stamp.read_text() == spec:
        return str(python)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [*pip, *(["--no-deps"] if no_deps else []), *packages],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise VenvError(f"cannot install {' '.join(packages)}: {detail.strip()[-300:]}") from exc
    stamp.write_text(spec)
    return str(python)
