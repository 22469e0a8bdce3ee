"""The spec's import path for the stream handlers; see ``masai.streaming``."""

from masai.events import StreamingEvent, clear_streaming_callback, set_streaming_callback
from masai.streaming import EnhancedStreamHandler, SimpleStreamHandler

__all__ = (
    "EnhancedStreamHandler",
    "SimpleStreamHandler",
    "StreamingEvent",
    "clear_streaming_callback",
    "set_streaming_callback",
)
