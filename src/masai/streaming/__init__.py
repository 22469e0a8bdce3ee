"""Streaming: runs as event streams, encoded for the wire."""

from ._decode import SSEDecoder, decode_chunk
from ._drive import agent_runner, unwrap_state
from ._openai import ChunkEncoder, event_delta
from ._stream import DEFAULT_MAX_BUFFERED_EVENTS, EventStream
from .handlers import EnhancedStreamHandler, SimpleStreamHandler, TypeFilter
from .sse import DONE, SSE_HEADERS, comment

__all__ = (
    "DEFAULT_MAX_BUFFERED_EVENTS",
    "DONE",
    "SSE_HEADERS",
    "ChunkEncoder",
    "EnhancedStreamHandler",
    "EventStream",
    "SSEDecoder",
    "SimpleStreamHandler",
    "TypeFilter",
    "agent_runner",
    "comment",
    "decode_chunk",
    "event_delta",
    "unwrap_state",
)
