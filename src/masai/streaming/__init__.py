"""Streaming: runs as event streams, encoded for the wire."""

from ._backend import SharedBackend, open_backend
from ._control import Control, ControlMessage, InMemoryControl, NotListening
from ._decode import SSEDecoder, decode_chunk
from ._drive import agent_runner, last_update, unwrap_state
from ._durable import DurableStream
from ._encoding import Encoder, Outcome, encode
from ._handle import ApprovalConflict, ApprovalNotFound, RunFinished, RunHandle
from ._jobs import Queued, RunJob, RunQueue
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
from ._worker import StepAttemptsExhausted, Worker
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
    "DurableStream",
    "Encoder",
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
    "Outcome",
    "Queued",
    "RunExists",
    "RunFinished",
    "RunGone",
    "RunHandle",
    "RunJob",
    "RunNotFound",
    "RunQueue",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "Runs",
    "SSEDecoder",
    "SharedBackend",
    "SimpleStreamHandler",
    "StepAttemptsExhausted",
    "TypeFilter",
    "Worker",
    "agent_runner",
    "comment",
    "decode_chunk",
    "encode",
    "event_delta",
    "last_update",
    "open_backend",
    "unwrap_state",
)
