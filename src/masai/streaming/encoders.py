"""Every wire protocol masai speaks, behind one interface (``Encoder``).

- ``SpecEncoder``: the spec's ``chat.completion.chunk`` frames with ``event_type``/``metadata``;
- ``ChatEncoder``: vanilla OpenAI chat completions (``/v1/chat/completions``);
- ``AgUiEncoder``: AG-UI events (``/ag-ui/{id}``), approvals as its interrupts.

``encode(stream, encoder)`` runs an ``EventStream`` through one of them; a server reads a run's
log through ``Encoder.entries`` / ``Encoder.finish`` instead. ``FinalText`` is what every
protocol presents as the reply: the run's final answer only.
"""

from ._agui import AgUiEncoder, ApprovalWindow
from ._chat import ChatEncoder, chat_usage, error_body
from ._encoding import Encoder, Outcome, ReportedError, encode, error_data
from ._reply import FinalText, is_intermediate
from ._spec import SpecEncoder

__all__ = (
    "AgUiEncoder",
    "ApprovalWindow",
    "ChatEncoder",
    "Encoder",
    "FinalText",
    "Outcome",
    "ReportedError",
    "SpecEncoder",
    "chat_usage",
    "encode",
    "error_body",
    "error_data",
    "is_intermediate",
)
