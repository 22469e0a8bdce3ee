"""Strict JSON for the wire.

Events carry whatever tools hand us (datetimes, sets, bytes, NaN, pydantic models). A value that
JSON cannot express must be converted, never allowed to end a stream, and never written as the
non-standard ``NaN``/``Infinity`` tokens that browsers' ``JSON.parse`` rejects.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import orjson

__all__ = ("dumps", "dumps_str", "to_jsonable")

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(obj: Any) -> Any:
    """Called by orjson for types it does not know."""
    if isinstance(obj, set | frozenset):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(obj, Decimal):
        return float(obj) if obj.is_finite() else None
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):  # pydantic v2 models
        return model_dump(mode="json")
    if isinstance(obj, PurePath | BaseException):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "__iter__") and not isinstance(obj, str):
        return list(obj)
    return repr(obj)


def dumps(obj: Any) -> bytes:
    """Serialise to compact strict JSON bytes; never raises for odd values."""
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits, recursion through odd containers, keys orjson refuses: fall
        # back to a slow, total conversion rather than failing the event.
        return json.dumps(
            to_jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


def to_jsonable(obj: Any, _depth: int = 0) -> Any:
    """Total conversion to plain JSON types (the slow path)."""
    if _depth > 64:
        return repr(obj)
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj if not isinstance(obj, enum.Enum) else to_jsonable(obj.value, _depth + 1)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _depth + 1)
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), _depth + 1)
    if isinstance(obj, Mapping):
        return {_key(k): to_jsonable(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, _depth + 1) for v in obj]
    return to_jsonable(_default(obj), _depth + 1) if not isinstance(obj, type) else repr(obj)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(to_jsonable(key))
