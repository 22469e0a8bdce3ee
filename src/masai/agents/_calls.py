"""Small pieces of running tool calls: running several together, closing an interrupted one in
the stream, and turning a result into the text the model reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from .. import _json
from ..events import emit_tool_output
from ..exceptions import StreamClosed

__all__ = ("close_call", "gather_calls", "stringify", "truncate")

T = TypeVar("T")


async def gather_calls(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather``, but when one call fails (an approval timed out) or the run is
    cancelled, the others are cancelled too and close their calls before this returns."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        raise


async def close_call(tool_name: str, message: str) -> None:
    """End an interrupted call in the stream with an error ``tool_output`` (if it still flows)."""
    with contextlib.suppress(StreamClosed, RuntimeError):
        await emit_tool_output(tool_name, message, "execute_tool", is_error=True)


def stringify(result: Any) -> str:
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, bytes | bytearray):
        return bytes(result).decode("utf-8", "replace")
    return _json.dumps_str(result)


def truncate(text: str, limit: int) -> str:
    half = limit // 2
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n[… {omitted} characters omitted …]\n{text[-half:]}"
