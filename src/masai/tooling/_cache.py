"""``ToolCache``: the original MASAI's Redis cache for tool functions, made safe to rely on.

``@cache.masai_cache`` under ``@tool``: a call with the same arguments within ``timeout``
minutes is answered from Redis. Differences from MASAI, and why:

* Values are JSON, not pickle: unpickling what Redis hands back runs code, so anyone who can
  write to the cache could take over every worker. A result that is not plain JSON (a pydantic
  model, a set) is returned but not cached; tuples come back as lists.
* The key is the function's module and qualified name plus a SHA-256 of its arguments bound to
  its signature, defaults applied: ``f(1)``, ``f(x=1)`` and ``f(**{"x": 1})`` share an entry,
  and keyword order does not matter.
* Async functions get an async wrapper on an asyncio client, opened per call (MASAI's wrapper
  would have cached the coroutine object); sync functions a sync wrapper on a pooled sync client.
* Redis being down never fails the tool: the function runs uncached, one warning is logged per
  outage, and Redis is not asked again for ``retry_after`` seconds.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson

from .._json import to_jsonable

__all__ = ("ToolCache",)

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_MISS = object()


def _decode(raw: Any) -> Any:
    """A cached value, or ``_MISS`` for none or for one that is not JSON (written by something
    else under our key): the function then runs and overwrites it."""
    if raw is None:
        return _MISS
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        logger.debug("tool cache: an entry that is not JSON was ignored")
        return _MISS


class ToolCache:
    """A Redis connection plus the ``masai_cache`` decorator.

    ``timeout`` is in minutes (MASAI's unit): the time to live of each entry. ``url`` (e.g.
    ``redis://host:6379/0``) replaces host/port/db/password when given. ``socket_timeout``
    bounds every Redis operation, so an unreachable server costs seconds at most, once.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: str | None = None,
        timeout: float = 30,
        *,
        url: str | None = None,
        prefix: str = "masai:tool-cache",
        socket_timeout: float = 2.0,
        retry_after: float = 5.0,
    ) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("ToolCache needs redis: pip install 'masai[redis]'") from exc
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "retry": None,  # one attempt: a cache miss is cheaper than waiting for Redis
        }
        if url is None:
            options.update(host=host, port=port, db=db, password=password)
        self._url = url
        self._options = options
        self.timeout = max(1, round(timeout * 60))  # seconds; Redis wants a whole number
        self.prefix = prefix
        self.retry_after = retry_after
        self.redis = redis.Redis.from_url(url, **options) if url else redis.Redis(**options)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned = False
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    # -- keys and values ----------------------------------------------------------------------

    def key_for(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        """The Redis key of one call: function identity plus a hash of its bound arguments."""
        try:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            arguments: Any = dict(bound.arguments)
        except (TypeError, ValueError):  # no signature, or a call that will fail anyway
            arguments = {"args": list(args), "kwargs": kwargs}
        blob = orjson.dumps(to_jsonable(arguments), option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(blob).hexdigest()
        return f"{self.prefix}:{func.__module__}.{func.__qualname__}:{digest}"

    @staticmethod
    def _encode(result: Any) -> bytes | None:
        try:
            return orjson.dumps(result)
        except TypeError:
            return None

    # -- health ------------------------------------------------------------------------------------

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        """Remember an outage; warn once per outage, not once per call."""
        with self._lock:
            self._down_until = time.monotonic() + self.retry_after
            first, self._warned = not self._warned, True
        if first:
            logger.warning(
                "tool cache: Redis unavailable (%s: %s); calling tools uncached",
                type(exc).__name__,
                exc,
            )

    def _worked(self) -> None:
        if self._warned:
            with self._lock:
                self._warned = False
            logger.info("tool cache: Redis is back")

    # -- sync --------------------------------------------------------------------------------------

    def _get(self, key: str) -> Any:
        if not self._available():
            return _MISS
        try:
            raw = self.redis.get(key)
        except self._redis_errors as exc:
            self._failed(exc)
            return _MISS
        self._worked()
        return _decode(raw)

    def _set(self, key: str, result: Any) -> None:
        blob = self._encode(result)
        if blob is None or not self._available():
            return
        try:
            self.redis.set(key, blob, ex=self.timeout)
        except self._redis_errors as exc:
            self._failed(exc)

    # -- async -------------------------------------------------------------------------------------

    def _async_client(self) -> Any:
        """A fresh asyncio client, for one call. Why not one shared client: redis.asyncio
        connections belong to the event loop that opened them, and a tool's calls come from
        several loops (the agents', those of ``invoke`` from sync code, one per test); a
        connection left behind on a closed loop fails when it is collected."""
        import redis.asyncio

        if self._url:
            return redis.asyncio.Redis.from_url(self._url, **self._options)
        return redis.asyncio.Redis(**self._options)

    async def _aget(self, client: Any, key: str) -> Any:
        if not self._available():
            return _MISS
        try:
            raw = await client.get(key)
        except self._redis_errors as exc:
            self._failed(exc)
            return _MISS
        self._worked()
        return _decode(raw)

    async def _aset(self, client: Any, key: str, result: Any) -> None:
        blob = self._encode(result)
        if blob is None or not self._available():
            return
        try:
            await client.set(key, blob, ex=self.timeout)
        except self._redis_errors as exc:
            self._failed(exc)

    # -- the decorator ----------------------------------------------------------------------------

    def masai_cache(self, func: F) -> F:
        """Cache ``func``'s results in Redis (sync or async function; put it under ``@tool``).
        The wrapper keeps the function's name, docstring and signature, so ``@tool`` builds
        the same schema as without it."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                key = self.key_for(func, args, kwargs)
                client = self._async_client()
                try:
                    cached = await self._aget(client, key)
                    if cached is not _MISS:
                        return cached
                    result = await func(*args, **kwargs)
                    await self._aset(client, key, result)
                    return result
                finally:
                    await client.aclose()

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = self.key_for(func, args, kwargs)
            cached = self._get(key)
            if cached is not _MISS:
                return cached
            result = func(*args, **kwargs)
            self._set(key, result)
            return result

        return cast(F, wrapper)

    # -- lifecycle ---------------------------------------------------------------------------------

    def clear(self) -> int:
        """Delete this cache's entries (those under ``prefix``); returns how many."""
        keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=500))
        return int(self.redis.delete(*keys)) if keys else 0

    def close(self) -> None:
        """Close the sync client (async clients: ``aclose``, on their loop)."""
        self.redis.close()

    async def aclose(self) -> None:
        """``close`` for async code (async calls open and close their own connections)."""
        self.close()
