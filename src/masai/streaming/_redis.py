"""What every Redis part shares: one client per process, the key layout, and error mapping.

Several API servers and workers share one Redis. An outage must reach a client as a short,
retryable answer (``BackendUnavailable``, HTTP 503), never as a hang nor as a raw redis-py
exception with connection details in it. So:

- connecting is bounded (``socket_connect_timeout``) and so is every read (``socket_timeout``);
  blocking commands block for at most ``MAX_BLOCK`` seconds per call, well under the socket
  timeout, and callers loop (re-checking state), so an outage is noticed within seconds;
- a dropped connection is retried once (a server restart, an idle connection cut by a proxy),
  a timeout never (it would double the wait);
- every public method of the Redis stores runs its commands inside ``backend.unavailable()``,
  which turns redis-py's connection errors into ``BackendUnavailable`` and any other redis
  error into ``BackendError``, once, at the edge.

Key parts are escaped (``:`` and ``%``), so an owner or a run id holding a ``:`` can never
alias another owner's key.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rex
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from ..exceptions import MasaiError

__all__ = (
    "MAX_BLOCK",
    "BackendError",
    "BackendUnavailable",
    "RedisBackend",
    "connect",
    "redact",
)

logger = logging.getLogger("masai.redis")

#: The longest one blocking Redis call may wait (XREAD BLOCK, BLPOP), in seconds: less than
#: the socket timeout, so a blocked call is never mistaken for a dead connection.
MAX_BLOCK = 5.0

#: Errors that mean "Redis cannot be reached right now" (retry later), not "a bug".
_TRANSIENT: tuple[type[BaseException], ...] = (
    rex.ConnectionError,  # (BusyLoadingError, MaxConnectionsError, pool exhaustion too)
    rex.TimeoutError,
    rex.ReadOnlyError,  # a replica during a fail-over
    rex.TryAgainError,
    rex.ClusterDownError,
    OSError,  # (TimeoutError is one)
)


class BackendUnavailable(MasaiError):
    """Redis cannot be reached (down, restarting, loading, overloaded); try again shortly."""

    public_message = "The backend (Redis) is unavailable; try again shortly."
    code = "backend_unavailable"


class BackendError(MasaiError):
    """Redis answered with an error that is not an outage (a bug, or a misconfiguration)."""

    public_message = "The backend (Redis) failed."


def redact(url: str) -> str:
    """The URL without its password, fit for a log line."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable redis url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


class RedisBackend:
    """A ``redis.asyncio.Redis`` client and the key prefix all Redis parts of one process use.

    Build it with ``connect``. The pool is a blocking one: every reader that waits for a run's
    next events holds a connection while it waits, so the pool is large, and a request that
    finds it exhausted waits ``pool_timeout`` seconds, then gets ``BackendUnavailable``."""

    def __init__(self, client: aioredis.Redis, *, prefix: str, url: str) -> None:
        self.client = client
        self.prefix = prefix
        #: The URL with its password hidden (for logs and ``repr``).
        self.url = redact(url)

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, prefix={self.prefix!r})"

    def key(self, *parts: str) -> str:
        """``prefix`` + the parts joined by ``:``, each escaped so no two tuples collide."""
        return self.prefix + ":".join(_escape(part) for part in parts)

    @contextlib.contextmanager
    def unavailable(self) -> Iterator[None]:
        """Run Redis commands: an outage leaves as ``BackendUnavailable``, any other redis error
        as ``BackendError``; the original is chained (for logs), its text never shown."""
        try:
            yield
        except MasaiError:
            raise
        except _TRANSIENT as exc:
            logger.warning("redis at %s unavailable: %s", self.url, type(exc).__name__)
            raise BackendUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
        except rex.ResponseError as exc:
            if not str(exc).startswith("OOM"):
                logger.error("redis at %s failed: %r", self.url, exc)
                raise BackendError(f"redis error: {type(exc).__name__}") from exc
            # Full (maxmemory with noeviction): a capacity problem, retryable, not a bug.
            logger.warning("redis at %s is full: refusing writes", self.url)
            raise BackendUnavailable("redis is full (maxmemory)") from exc
        except rex.RedisError as exc:
            logger.error("redis at %s failed: %r", self.url, exc)
            raise BackendError(f"redis error: {type(exc).__name__}") from exc

    async def ping(self) -> bool:
        """True if Redis answers (``BackendUnavailable`` if it does not)."""
        with self.unavailable():
            return bool(await self.client.ping())

    async def aclose(self) -> None:
        """Close the client and its pool (connections in use are closed too)."""
        with contextlib.suppress(rex.RedisError, OSError):
            await self.client.aclose()


def connect(
    url: str,
    *,
    prefix: str = "masai:",
    max_connections: int = 1000,
    pool_timeout: float = 5.0,
    socket_timeout: float = 10.0,
    socket_connect_timeout: float = 2.0,
    health_check_interval: float = 15.0,
    **options: Any,
) -> RedisBackend:
    """A ``RedisBackend`` for ``url`` (``redis://``, ``rediss://``, ``unix://``). No connection
    is made yet: the first command connects. ``options`` go to the connection pool."""
    if socket_timeout <= MAX_BLOCK:
        raise ValueError(f"socket_timeout must exceed the longest blocking call ({MAX_BLOCK} s)")
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
        decode_responses=False,
        # One quick retry on a dropped connection; none on a timeout (it would double it).
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1, (rex.ConnectionError,)),
        **options,
    )
    client = aioredis.Redis.from_pool(pool)
    return RedisBackend(client, prefix=prefix, url=url)
