"""What the provider adapters share: retrying calls, and turning failures into typed errors.

The SDKs' own retries are off because they cannot know what a retry costs here: once answer text
has gone to the client, a second attempt would send it again. So the loop below retries only
while nothing has been streamed, and otherwise fails cleanly with a typed error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import inspect
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..exceptions import ConfigError, ModelError
from ._base import ModelRequest

__all__ = (
    "Failure",
    "RetryPolicy",
    "call_with_retries",
    "check_params",
    "connection_failure",
    "redact",
    "status_failure",
    "stream_error_failure",
)

logger = logging.getLogger("masai.models")

T = TypeVar("T")

#: Error types providers put in a body when the fault is theirs and passing (mid-stream errors).
_TRANSIENT_TYPES = frozenset(
    {"server_error", "api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
)
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")  # OpenAI and Anthropic keys, masked or not


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """A provider failure, described for logs and for the retry decision."""

    summary: str  # status code and provider text; logged server-side only
    retryable: bool
    retry_after: float | None = None  # seconds the provider asked us to wait


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; a provider's ``retry-after`` wins, within the cap."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2**retry)
        return random.uniform(backoff / 2, backoff)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets or anything shaped like an API key."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def _error_fields(body: object) -> tuple[str | None, str | None]:
    """``(type, message)`` from either provider's error body (wrapped in ``error`` or not)."""
    if not isinstance(body, Mapping):
        return None, body if isinstance(body, str) and body else None
    inner = body.get("error")
    err = inner if isinstance(inner, Mapping) else body
    kind, message = err.get("type"), err.get("message")
    return (
        kind if isinstance(kind, str) and kind != "error" else None,
        message if isinstance(message, str) else None,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return float(ms) / 1000
        if (value := headers.get("retry-after")) is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None


def status_failure(status: int, headers: Mapping[str, str], body: object, fallback: str) -> Failure:
    """An HTTP error answer; a ``status`` below 400 means an error event inside a stream."""
    kind, message = _error_fields(body)
    text = " ".join(filter(None, (kind and f"{kind}:", message))) or fallback
    if status >= 400:
        retryable = status == 429 or (status >= 500 and status != 501)
        return Failure(f"HTTP {status}: {text}", retryable, _retry_after(headers))
    return Failure(f"error in stream: {text}", kind in _TRANSIENT_TYPES)


def stream_error_failure(body: object, fallback: str) -> Failure:
    """An error event inside an otherwise successful stream."""
    return status_failure(200, {}, body, fallback)


def connection_failure(exc: BaseException) -> Failure:
    """Timeouts, refused or dropped connections: always worth another try."""
    return Failure(f"{type(exc).__name__}: {exc}", True)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    request: ModelRequest,
    policy: RetryPolicy,
    classify: Callable[[Exception], Failure | None],
    label: str,
    secrets: Iterable[str | None] = (),
) -> T:
    """Run ``attempt`` until it succeeds, retrying transient provider failures.

    ``classify`` maps an exception to a ``Failure``, or to ``None`` for exceptions that are not
    the provider's (they propagate untouched, e.g. ``ModelOutputError``).
    """
    secrets = tuple(secrets)
    retries = 0
    while True:
        sent = len(request.answer.text)
        try:
            return await attempt()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            summary = redact(failure.summary, secrets)
            streamed = len(request.answer.text) > sent
            if failure.retryable and not streamed and retries < policy.max_retries:
                delay = policy.delay(retries, failure.retry_after)
                retries += 1
                logger.warning(
                    "%s: %s; retry %d of %d in %.2fs",
                    label,
                    summary,
                    retries,
                    policy.max_retries,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            why = " (answer text already streamed, not retried)" if streamed else ""
            attempts = f"{retries + 1} attempt{'s' if retries else ''}"
            raise ModelError(f"{label} failed after {attempts}: {summary}{why}") from exc


def check_params(
    create: Any, params: Mapping[str, Any], reserved: Iterable[str], owner: str
) -> None:
    """Fail at construction, not on the first call, for options the SDK does not take or that
    the adapter sets itself."""
    if taken := sorted(set(params) & set(reserved)):
        raise ConfigError(f"{owner} sets {', '.join(taken)} itself; do not pass them")
    known = inspect.signature(create).parameters
    if unknown := sorted(set(params) - set(known)):
        raise ConfigError(
            f"{owner} got options its SDK does not take: {', '.join(unknown)} "
            "(pass server-specific ones as extra_body={...})"
        )
