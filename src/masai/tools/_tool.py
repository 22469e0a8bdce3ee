"""Tools: a name, a description, an argument schema, and a way to run.

``@tool`` turns a function (sync or async) into a ``Tool``, its argument schema taken from the
type hints by pydantic. LangChain tools are adapted by duck typing, so core never imports
LangChain. Sync functions run in a worker thread that carries the run's context, so their
``emit_*_sync`` calls reach the right stream: on the ``ToolThreads`` pool bound with
``use_tool_threads`` if there is one, else on the loop's default executor.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any, overload

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .._json import to_jsonable
from ..exceptions import ToolError
from ..models import ToolSpec
from ._threads import current_tool_threads

__all__ = ("Tool", "ToolArgumentsError", "as_tool", "tool")


class ToolArgumentsError(ToolError):
    """The arguments do not fit the tool's schema; the model is told and may try again."""

    public_message = "A tool was called with invalid arguments."
    code = "tool_arguments"


class Tool:
    """Something an agent can call. Subclass and override ``_call`` for custom tools.

    ``requires_approval``: every call waits for a person's decision before it runs (see
    ``masai.agents.Approvals``); ``approval_timeout`` is how long, in seconds (``None``: the
    approval channel's default).

    ``idempotent``: running a call twice does no more than running it once (the default: most
    tools look things up). A run with a ``Journal`` that crashed mid-call runs an idempotent
    call again when it resumes. Set it to ``False`` for a tool with a side effect that must not
    happen twice, such as sending a payment or an email: such a call interrupted mid-run is
    not run again (whether it took effect is unknown); the resumed run fails with
    ``ToolInterrupted`` instead, for a person to check.
    """

    def __init__(
        self,
        name: str,
        description: str,
        args_schema: type[BaseModel],
        *,
        timeout: float | None = None,
        return_direct: bool = False,
        requires_approval: bool = False,
        approval_timeout: float | None = None,
        idempotent: bool = True,
    ) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"invalid tool name {name!r}: use letters, digits, _ and -")
        if approval_timeout is not None and approval_timeout <= 0:
            raise ValueError("approval_timeout must be positive (or None for the default)")
        self.name = name
        self.description = description
        self.args_schema = args_schema
        self.timeout = timeout
        self.return_direct = return_direct
        self.requires_approval = requires_approval
        self.approval_timeout = approval_timeout
        self.idempotent = idempotent

    def spec(self) -> ToolSpec:
        schema = self.args_schema.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(self.name, self.description, schema)

    def parse_arguments(self, raw: Any) -> dict[str, Any]:
        """Validate a model's arguments (object, JSON string, or a bare value for a tool with
        one parameter) into keyword arguments."""
        fields = list(self.args_schema.model_fields)
        if raw is None:
            raw = {}
        elif isinstance(raw, str):
            try:
                decoded = orjson.loads(raw)
            except orjson.JSONDecodeError:
                decoded = raw
            raw = decoded if isinstance(decoded, dict) else raw
        if not isinstance(raw, Mapping):
            if len(fields) != 1:
                raise ToolArgumentsError(
                    f"{self.name} takes an object with {fields}, got {type(raw).__name__}"
                )
            raw = {fields[0]: raw}
        try:
            model = self.args_schema.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolArgumentsError(f"invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    async def run(self, raw_arguments: Any) -> Any:
        return await self._call(self.parse_arguments(raw_arguments))

    async def _call(self, arguments: dict[str, Any]) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FunctionTool(Tool):
    def __init__(self, fn: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)

    async def _call(self, arguments: dict[str, Any]) -> Any:
        if self.is_async:
            return await self.fn(**arguments)
        # Both copy the context: the run's sink and scope follow the call into the thread.
        pool = current_tool_threads()
        if pool is not None:
            return await pool.run(self.fn, **arguments)
        return await asyncio.to_thread(self.fn, **arguments)

    async def __call__(self, **arguments: Any) -> Any:
        return await self.run(arguments)


class LangChainTool(Tool):
    """A LangChain ``BaseTool`` (or anything with ``name`` and ``ainvoke``)."""

    def __init__(
        self,
        wrapped: Any,
        *,
        requires_approval: bool = False,
        approval_timeout: float | None = None,
        idempotent: bool = True,
    ) -> None:
        # tool_call_schema leaves out arguments LangChain injects itself; older tools lack it.
        schema = getattr(wrapped, "tool_call_schema", None)
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            schema = getattr(wrapped, "args_schema", None)
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            schema = _schema_from_json(wrapped.name, getattr(wrapped, "args", None) or {})
        super().__init__(
            wrapped.name,
            getattr(wrapped, "description", "") or "",
            schema,
            return_direct=bool(getattr(wrapped, "return_direct", False)),
            requires_approval=requires_approval,
            approval_timeout=approval_timeout,
            idempotent=idempotent,
        )
        self.wrapped = wrapped

    def parse_arguments(self, raw: Any) -> dict[str, Any]:
        parsed = super().parse_arguments(raw)
        # Hand LangChain the JSON form: it validates against its own schema again.
        return {k: to_jsonable(v) if isinstance(v, BaseModel) else v for k, v in parsed.items()}

    async def _call(self, arguments: dict[str, Any]) -> Any:
        # LangChain runs sync tools in an executor with a copy of the context.
        return await self.wrapped.ainvoke(arguments)


def _schema_from_json(name: str, properties: Mapping[str, Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {key: (Any, None) for key in properties}
    return create_model(f"{name}_args", __config__=ConfigDict(extra="allow"), **fields)


def _schema_from_signature(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    hints = inspect.get_annotations(fn, eval_str=True)
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)


def _describe(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


@overload
def tool(name_or_fn: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(
    name_or_fn: str | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    return_direct: bool = False,
    requires_approval: bool = False,
    approval_timeout: float | None = None,
    idempotent: bool = True,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...
def tool(
    name_or_fn: str | Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    return_direct: bool = False,
    requires_approval: bool = False,
    approval_timeout: float | None = None,
    idempotent: bool = True,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a function a tool: ``@tool``, ``@tool("name")`` or ``@tool(name=…, timeout=…)``.

    ``@tool(requires_approval=True, approval_timeout=600)``: a person approves each call first.
    ``@tool(idempotent=False)``: a call must never run twice, even when a crashed run resumes
    (see ``Tool``).

    The description is the docstring's first paragraph; arguments come from the type hints
    (``Annotated[str, Field(description=…)]`` documents one).
    """

    def wrap(fn: Callable[..., Any]) -> FunctionTool:
        tool_name = name or (name_or_fn if isinstance(name_or_fn, str) else None) or fn.__name__
        return FunctionTool(
            fn,
            name=tool_name,
            description=description if description is not None else _describe(fn),
            args_schema=_schema_from_signature(fn, tool_name),
            timeout=timeout,
            return_direct=return_direct,
            requires_approval=requires_approval,
            approval_timeout=approval_timeout,
            idempotent=idempotent,
        )

    if callable(name_or_fn):
        return wrap(name_or_fn)
    return wrap


def as_tool(obj: Any) -> Tool:
    """Whatever was passed as a tool, as a ``Tool``: masai tools, LangChain tools, functions."""
    if isinstance(obj, Tool):
        return obj
    if hasattr(obj, "ainvoke") and isinstance(getattr(obj, "name", None), str):
        return LangChainTool(obj)
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return tool(obj)
    raise TypeError(f"{obj!r} is not a tool: use @masai.tool, a LangChain tool, or a function")
