"""Streaming: runs as event streams, encoded for the wire."""

from ._control import Control, ControlMessage, InMemoryControl, NotListening
from ._decode import SSEDecoder, decode_chunk
from ._drive import agent_runner, unwrap_state
from ._handle import ApprovalConflict, ApprovalNotFound, RunFinished, RunHandle
from ._log import READ_BATCH, EventLog, InMemoryEventLog, LogBatch, LogEntry, LogGone
from ._openai import ChunkEncoder, event_delta
from ._runs import Runs
from ._runstore import (
    InMemoryRunStore,
    OnDisconnect,
    RunExists,
    RunGone,
    RunNotFound,
    RunRecord,
    RunStatus,
    RunStore,
)
from ._stream import DEFAULT_MAX_BUFFERED_EVENTS, EventStream
from .handlers import EnhancedStreamHandler, SimpleStreamHandler, TypeFilter
from .sse import DONE, SSE_HEADERS, comment

__all__ = (
    "DEFAULT_MAX_BUFFERED_EVENTS",
    "DONE",
    "READ_BATCH",
    "SSE_HEADERS",
    "ApprovalConflict",
    "ApprovalNotFound",
    "ChunkEncoder",
    "Control",
    "ControlMessage",
    "EnhancedStreamHandler",
    "EventLog",
    "EventStream",
    "InMemoryControl",
    "InMemoryEventLog",
    "InMemoryRunStore",
    "LogBatch",
    "LogEntry",
    "LogGone",
    "NotListening",
    "OnDisconnect",
    "RunExists",
    "RunFinished",
    "RunGone",
    "RunHandle",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "Runs",
    "SSEDecoder",
    "SimpleStreamHandler",
    "TypeFilter",
    "agent_runner",
    "comment",
    "decode_chunk",
    "event_delta",
    "unwrap_state",
)
