"""How each benchmark module ends: ``python -m benchmarks.X`` prints one JSON line that
``python -m benchmarks`` reads."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ("print_result",)


def print_result(work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` (a benchmark's ``measure(...)``) on uvloop when it is installed, the loop
    masai serve and the clients use, and print its result as one JSON line."""
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:
        run = asyncio.run
    sys.stdout.write(json.dumps(run(work)) + "\n")
