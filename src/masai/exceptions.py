"""Typed errors. Each carries a ``public_message`` that is safe to show a client; the exception
text itself may hold internals (paths, provider payloads, keys) and is only ever logged."""

from __future__ import annotations

__all__ = (
    "AgentNotFound",
    "ConfigError",
    "MasaiError",
    "ModelError",
    "ModelOutputError",
    "RunCancelled",
    "ScriptExhausted",
    "ServerShutdown",
    "StreamClosed",
    "ToolError",
)


class MasaiError(Exception):
    """Base of every error masai raises on purpose."""

    public_message = "The agent run failed."
    code = "internal_error"


class ConfigError(MasaiError, ValueError):
    """Invalid configuration or arguments, found before anything runs."""

    public_message = "The request or configuration is invalid."
    code = "invalid_config"


class AgentNotFound(MasaiError, KeyError, ValueError):
    """No agent is registered under the requested name (a ``ValueError`` too, as in MASAI)."""

    public_message = "The requested agent does not exist."
    code = "agent_not_found"

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message.
        return str(self.args[0]) if self.args else self.public_message


class ModelError(MasaiError):
    """The model provider failed after retries (HTTP error, timeout, refused request)."""

    public_message = "The language model could not be reached."
    code = "model_error"


class ModelOutputError(ModelError):
    """The model answered, but not in a form the agent can use."""

    public_message = "The language model returned an unusable answer."
    code = "model_output_error"


class ScriptExhausted(ModelError):
    """A ScriptedModel was asked for more turns than it was given."""

    public_message = "The scripted model ran out of turns."
    code = "script_exhausted"


class ToolError(MasaiError):
    """A tool failed; raised inside tools to give the model a clean message."""

    public_message = "A tool failed."
    code = "tool_error"


class StreamClosed(MasaiError):
    """The stream an emit targets has ended; raised to sync emitters so a worker thread stops."""

    public_message = "The stream has ended."
    code = "stream_closed"


class RunCancelled(StreamClosed):
    """The run was cancelled (client disconnected or Stop pressed)."""

    public_message = "The run was cancelled."
    code = "cancelled"


class ServerShutdown(MasaiError):
    """The server stopped a run it could not let finish before shutting down."""

    public_message = "The server is shutting down; the run was stopped. Try again shortly."
    code = "server_shutdown"
