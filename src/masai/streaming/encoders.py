"""Every wire protocol masai speaks, behind one interface (``Encoder``).

- ``SpecEncoder``: the spec's ``chat.completion.chunk`` frames with ``event_type``/``metadata``;
- ``ChatEncoder``: vanilla OpenAI chat completions (``/v1/chat/completions``);
- ``ResponsesEncoder``: the OpenAI Responses API's events (``/v1/responses``);
- ``AgUiEncoder``: AG-UI events (``/ag-ui/{id}``), approvals as its interrupts;
- ``UIStreamEncoder``: the Vercel AI SDK's UI message stream (``/ai-sdk/{id}``).

``wire_encoder(name, record)`` makes one by protocol name (``WIRES``).
``encode(stream, encoder)`` runs an ``EventStream`` through one of them; a server reads a run's
log through ``Encoder.entries`` / ``Encoder.finish`` instead. ``FinalText`` is what every
protocol presents as the reply: the run's final answer only.
"""

from ._agui import AgUiEncoder, ApprovalWindow
from ._chat import ChatEncoder, chat_usage, error_body
from ._conversations import Conversations, Turn
from ._encoding import Encoder, Outcome, ReportedError, Source, encode, error_data
from ._reply import FinalText, is_intermediate
from ._responses import ResponsesEncoder, response_error, response_usage
from ._spec import SpecEncoder
from ._uistream import UI_STREAM_HEADER, UIStreamEncoder
from ._wires import WIRES, wire_encoder

__all__ = (
    "UI_STREAM_HEADER",
    "WIRES",
    "AgUiEncoder",
    "ApprovalWindow",
    "ChatEncoder",
    "Conversations",
    "Encoder",
    "FinalText",
    "Outcome",
    "ReportedError",
    "ResponsesEncoder",
    "Source",
    "SpecEncoder",
    "Turn",
    "UIStreamEncoder",
    "chat_usage",
    "encode",
    "error_body",
    "error_data",
    "is_intermediate",
    "response_error",
    "response_usage",
    "wire_encoder",
)
