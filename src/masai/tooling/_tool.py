"""Tools: a name, a description, an argument schema, and a way to run.

``@tool`` turns a function (sync or async) into a ``Tool``, its argument schema taken from the
type hints by pydantic. LangChain tools are adapted by duck typing, so core never imports
LangChain. Sync functions run in a worker thread that carries the run's context, so their
``emit_*_sync`` calls reach the right stream: on the ``ToolThreads`` pool bound with
``use_tool_threads`` if there is one, else on the loop's default executor.

The same objects speak the original MASAI's tool API (``masai.Tools.Tool``): ``invoke``,
``ainvoke``, ``run``, ``arun``, ``get_metadata``. Agents use ``call`` (async, raw arguments in,
raw result out); MASAI's ``run`` is sync and returns text. For code written against masai's
former async ``run``, that text can also be awaited (see ``ToolOutput``).
"""

from __future__ import annotations

import asyncio
import collections.abc
import inspect
import logging
import re
from collections.abc import Callable, Generator, Mapping
from typing import Any, NoReturn, overload

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .._json import to_jsonable
from ..exceptions import ToolError
from ..models import ToolSpec
from ._bridge import home_loop, run_coroutine_blocking
from ._threads import current_tool_threads

__all__ = (
    "FunctionTool",
    "LangChainTool",
    "Tool",
    "ToolArgumentsError",
    "ToolOutput",
    "as_tool",
    "tool",
)

logger = logging.getLogger(__name__)


class ToolArgumentsError(ToolError, ValueError):
    """The arguments do not fit the tool's schema; the model is told and may try again.

    Also a ``ValueError``: MASAI's ``invoke`` documents ``ValueError`` for invalid input."""

    public_message = "A tool was called with invalid arguments."
    code = "tool_arguments"


class ToolOutput(str):
    """MASAI's ``run`` result: the output as text, which can also be awaited for the raw value.

    Why awaitable: masai's ``Tool.run`` used to be a coroutine (``await tool.run(args)``,
    ``asyncio.run(tool.run(args))``); MASAI's is sync and returns a string. A string that is
    also a finished coroutine keeps both kinds of caller working. ``raw`` is the unconverted
    result. Registered as a ``collections.abc.Coroutine`` so ``asyncio.run`` accepts it.
    """

    raw: Any

    def __new__(cls, raw: Any) -> ToolOutput:
        text = super().__new__(cls, raw if isinstance(raw, str) else str(raw))
        text.raw = raw
        return text

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self.raw

    def send(self, value: Any) -> NoReturn:
        raise StopIteration(self.raw)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> NoReturn:
        raise typ if val is None else val

    def close(self) -> None:
        return None


collections.abc.Coroutine.register(ToolOutput)


class Tool:
    """Something an agent can call: a function (``Tool(name, description, func)``, as MASAI
    constructs it, or ``@tool``), a subclass with an ``execute`` method and ``name`` /
    ``description`` class attributes (MASAI's documented style), or a subclass overriding
    ``_call`` with an explicit ``args_schema``.

    For compatibility a pydantic model class as the third positional argument is taken as
    ``args_schema`` (masai's earlier signature was ``Tool(name, description, args_schema)``).

    ``return_direct``: the tool's output becomes the agent's answer and ends the run; MASAI's
    ``invoke``/``ainvoke`` then return the raw result instead of its text.

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

    name: str
    description: str
    func: Callable[..., Any] | None

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        func: Callable[..., Any] | type[BaseModel] | None = None,
        return_direct: bool = False,
        *,
        args_schema: type[BaseModel] | None = None,
        timeout: float | None = None,
        requires_approval: bool = False,
        approval_timeout: float | None = None,
        idempotent: bool = True,
    ) -> None:
        if isinstance(func, type) and issubclass(func, BaseModel):
            if args_schema is not None:
                raise TypeError("args_schema given twice")
            args_schema, func = func, None
        execute = getattr(self, "execute", None)
        if func is None and args_schema is None and callable(execute):
            func = execute  # MASAI's subclass style: ``def execute(self, query: str)``
        name = name if name is not None else _class_text(type(self), "name")
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"invalid tool name {name!r}: use letters, digits, _ and -")
        if approval_timeout is not None and approval_timeout <= 0:
            raise ValueError("approval_timeout must be positive (or None for the default)")
        if description is None:
            description = _class_text(type(self), "description")
            if description is None:
                description = _describe(func) if func is not None else ""
        if args_schema is None:
            args_schema = (
                _schema_from_signature(func, name, description)
                if func is not None
                else _schema_from_fields(name, description, {})
            )
        self.name = name
        self.description = description
        self.func = func
        self.is_async = func is None or _is_async(func)
        self.args_schema = args_schema
        self.timeout = timeout
        self.return_direct = return_direct
        self.requires_approval = requires_approval
        self.approval_timeout = approval_timeout
        self.idempotent = idempotent

    @property
    def fn(self) -> Callable[..., Any] | None:
        """The wrapped function (masai's earlier name for ``func``)."""
        return self.func

    @property
    def args(self) -> dict[str, Any]:
        """The arguments' JSON schemas by name (LangChain's ``args``)."""
        properties: dict[str, Any] = self.args_schema.model_json_schema().get("properties", {})
        return properties

    def spec(self) -> ToolSpec:
        schema = self.args_schema.model_json_schema()
        schema.pop("title", None)
        if schema.get("description") == self.description:
            schema.pop("description")  # already the tool's description; do not send it twice
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

    async def call(self, raw_arguments: Any = None) -> Any:
        """The agents' entry point: validate the model's raw arguments, run, return the raw
        result (the agent turns it into text and streams it)."""
        return await self._dispatch(self.parse_arguments(raw_arguments))

    async def _dispatch(self, arguments: dict[str, Any]) -> Any:
        """``_call``, with this loop recorded as the home loop: the worker threads of sync
        code inside (sync tools, LangChain's executor) inherit it, so a sync ``invoke`` of an
        async tool from there runs on this loop and streams to this run."""
        token = home_loop.set(asyncio.get_running_loop())
        try:
            return await self._call(arguments)
        finally:
            home_loop.reset(token)

    async def _call(self, arguments: dict[str, Any]) -> Any:
        """Run with validated arguments. Override for tools that are not a function."""
        func = self.func
        if func is None:
            raise NotImplementedError(f"{type(self).__name__} has no func and no _call")
        if self.is_async:
            return await func(**arguments)
        # Both copy the context: the run's sink and scope follow the call into the thread.
        result: Any
        pool = current_tool_threads()
        if pool is not None:
            result = await pool.run(func, **arguments)
        else:
            result = await asyncio.to_thread(func, **arguments)
        if inspect.isawaitable(result) and not isinstance(result, str):  # (not a ToolOutput)
            return await result  # a sync callable that returned a coroutine
        return result

    def _call_blocking(self, arguments: dict[str, Any]) -> Any:
        """Run with validated arguments from sync code: a sync function directly in this
        thread (as MASAI does), anything else through ``run_coroutine_blocking``."""
        if self.func is not None and not self.is_async:
            return self.func(**arguments)
        return run_coroutine_blocking(lambda: self._dispatch(arguments), self.name)

    # -- MASAI's API (masai.Tools.Tool) ------------------------------------------------------

    def invoke(self, input: Any) -> Any:
        """Run from sync code. ``input``: the arguments as a dict or a JSON object string (or,
        for a one-parameter tool, the bare value); invalid input raises ``ToolArgumentsError``,
        a ``ValueError``. Returns the result's text, or the result itself with
        ``return_direct``. Async tools work too (see ``masai.tooling._bridge``: without a
        running loop they run to completion; inside one they block it until done)."""
        result = self._call_blocking(self.parse_arguments(input))
        return result if self.return_direct else str(result)

    async def ainvoke(self, input: Any) -> Any:
        """``invoke`` for async code; sync tools run in a worker thread."""
        result = await self._dispatch(self.parse_arguments(input))
        return result if self.return_direct else str(result)

    def run(self, input_str: Any = None) -> ToolOutput:
        """Run from sync code; the output as text (a ``ToolOutput``, which can also be awaited
        for the raw result, as masai's former async ``run`` returned)."""
        return ToolOutput(self._call_blocking(self.parse_arguments(input_str)))

    async def arun(self, input_str: Any = None) -> str:
        """``run`` for async code."""
        return str(await self._dispatch(self.parse_arguments(input_str)))

    def get_metadata(self) -> dict[str, Any]:
        """``name``, ``description`` and ``args_schema`` (the pydantic model class), for
        agent systems that describe tools to a model themselves."""
        return {"name": self.name, "description": self.description, "args_schema": self.args_schema}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function as if undecorated (no validation; an async function gives
        a coroutine). MASAI refuses direct calls; a decorated function staying callable is
        what most code expects."""
        if self.func is None:
            raise TypeError(f"tool {self.name!r} wraps no function: use invoke() or ainvoke()")
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FunctionTool(Tool):
    """A tool made from a function by ``@tool``."""

    func: Callable[..., Any]

    def __init__(self, fn: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(func=fn, **kwargs)


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
            args_schema=schema,
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


def _schema_name(name: str) -> str:
    """MASAI names a tool's schema after it: ``get_user`` → ``GetUserSchema``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_-]+", name)) + "Schema"


def _schema_from_fields(name: str, description: str, fields: dict[str, Any]) -> type[BaseModel]:
    # The docstring makes the schema's own description the tool's, as in MASAI.
    model: type[BaseModel] = create_model(
        _schema_name(name),
        __config__=ConfigDict(extra="forbid"),
        __doc__=description or None,
        **fields,
    )
    return model


def _schema_from_signature(
    fn: Callable[..., Any], name: str, description: str = ""
) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    target = inspect.unwrap(fn) if not inspect.ismethod(fn) else fn
    try:
        hints = inspect.get_annotations(target, eval_str=True)
    except TypeError:  # a callable object: its __call__ carries the annotations
        hints = inspect.get_annotations(type(target).__call__, eval_str=True)
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    return _schema_from_fields(name, description, fields)


def _describe(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def _class_text(cls: type, attribute: str) -> str | None:
    """A ``name``/``description`` class attribute of a subclass (MASAI's subclass style)."""
    value = getattr(cls, attribute, None)
    return value if isinstance(value, str) else None


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # An object with ``async def __call__``.
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(type(func).__call__)


@overload
def tool(name_or_fn: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(
    name_or_fn: str | None = None,
    /,
    return_direct: bool = False,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
    approval_timeout: float | None = None,
    idempotent: bool = True,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...
def tool(
    name_or_fn: str | Callable[..., Any] | None = None,
    /,
    return_direct: bool = False,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
    approval_timeout: float | None = None,
    idempotent: bool = True,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a function a tool: ``@tool``, ``@tool("name")``, MASAI's
    ``@tool("name", return_direct=True)`` or ``@tool(name=…, timeout=…)``.

    ``@tool(requires_approval=True, approval_timeout=600)``: a person approves each call first.
    ``@tool(idempotent=False)``: a call must never run twice, even when a crashed run resumes
    (see ``Tool``).

    The description is the docstring's first paragraph; arguments come from the type hints
    (``Annotated[str, Field(description=…)]`` documents one).
    """

    def wrap(fn: Callable[..., Any]) -> FunctionTool:
        tool_name = name or (name_or_fn if isinstance(name_or_fn, str) else None) or fn.__name__
        text = description if description is not None else _describe(fn)
        return FunctionTool(
            fn,
            name=tool_name,
            description=text,
            args_schema=_schema_from_signature(fn, tool_name, text),
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
