"""``/runs``: runs as resources (docs/runs.md).

Start a run and get its id at once; read its events from any cursor (``Last-Event-ID`` or
``?after=``) then live, as many viewers as you like; cancel it; decide on its tool calls. A run
is its owner's: anyone else gets 404, exactly as for an id that never existed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from ..streaming import RunStatus
from ..streaming.encoders import SpecEncoder
from ..tooling import ToolArgumentsError
from ._errors import ERROR_RESPONSES, ApiError, ErrorBody
from ._gate import principal_of
from ._routes import SSE_RESPONSE, StreamRequest, runtime_of, start_run, view
from ._runtime import RUN_ID

__all__ = ("router",)

router = APIRouter(prefix="/runs", tags=["runs"])

_RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    **{k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404)},
    409: {
        "description": "The run id is taken, the run has finished, or the call was decided",
        "model": ErrorBody,
    },
    410: {"description": "The run, or the part of its log asked for, is gone", "model": ErrorBody},
}


class RunView(BaseModel):
    """A run as ``GET /runs/{id}`` shows it."""

    run_id: str
    target: str
    status: RunStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    stop_reason: str | None
    answer: str | None
    #: ``{input_tokens, output_tokens}`` once finished.
    usage: dict[str, int] | None = None
    event_count: int
    #: Tool calls waiting for a decision: ``{tool_call_id, tool_name, arguments}``.
    pending_approvals: list[dict[str, Any]]


class Created(BaseModel):
    run_id: str
    status: RunStatus
    events_url: str


class RunList(BaseModel):
    runs: list[RunView]


class Decision(BaseModel):
    """A person's decision on a tool call that waits for approval."""

    model_config = ConfigDict(extra="forbid", strict=True)

    approved: bool
    reason: str | None = Field(default=None, max_length=10_000)
    #: Run the call with these arguments instead (checked against the tool's schema: 422).
    arguments: dict[str, Any] | None = None


RunId = Annotated[str, Field(pattern=RUN_ID)]


@router.post(
    "",
    status_code=201,
    response_model=Created,
    responses={**ERROR_RESPONSES, **_RUN_ERRORS},
)
async def create_run(request: Request, body: StreamRequest) -> Response:
    """Start a run; it goes on whether or not anyone watches (``on_disconnect`` applies to
    its viewers: ``cancel`` stops it when the last one leaves early)."""
    run = await start_run(request, body, None, on_disconnect="continue")
    record = run.record
    created = Created(
        run_id=record.run_id, status=record.status, events_url=f"/runs/{record.run_id}/events"
    )
    return JSONResponse(created.model_dump(), 201, headers=run.headers)


@router.get("", response_model=RunList, responses=_RUN_ERRORS)
async def list_runs(request: Request, status: RunStatus | None = None) -> dict[str, Any]:
    """Your runs, newest first (``?status=running`` for one status)."""
    runs = await runtime_of(request).runs.list_runs(principal_of(request), status)
    return {"runs": [r.public() for r in runs]}


@router.get("/{run_id}", response_model=RunView, responses=_RUN_ERRORS)
async def get_run(request: Request, run_id: RunId) -> dict[str, Any]:
    record = await runtime_of(request).runs.get(principal_of(request), run_id)
    return record.public()


@router.get("/{run_id}/events", responses={**SSE_RESPONSE, **_RUN_ERRORS}, response_class=Response)
async def run_events(
    request: Request,
    run_id: RunId,
    after: Annotated[int | None, Query(ge=-1)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The run's events after a cursor (the ``Last-Event-ID`` header, else ``?after=``, else
    from the start), then live, then its terminal frame and ``[DONE]``."""
    runtime = runtime_of(request)
    record = await runtime.runs.get(principal_of(request), run_id)
    cursor = _cursor(last_event_id, after)
    await runtime.runs.check_cursor(record, cursor)  # 410 now, not mid-stream
    return view(runtime, record, SpecEncoder.of_record(record, ids=True), after=cursor)


def _cursor(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        try:
            cursor = int(last_event_id.strip())
        except ValueError:
            raise ApiError(400, "Last-Event-ID must be an event's seq", "invalid_cursor") from None
        if cursor < -1:
            raise ApiError(400, "Last-Event-ID must be >= -1", "invalid_cursor")
        return cursor
    return -1 if after is None else after


@router.post("/{run_id}/cancel", response_model=RunView, responses=_RUN_ERRORS)
async def cancel_run(request: Request, run_id: RunId, wait: bool = False) -> Response:
    """Stop the run: 202 at once, or with ``?wait=true`` 200 once it has stopped."""
    owner = principal_of(request)
    record = await runtime_of(request).runs.cancel(owner, run_id, by=owner, wait=wait)
    return JSONResponse(record.public(), 200 if wait else 202)


@router.post(
    "/{run_id}/approvals/{tool_call_id}",
    response_model=RunView,
    responses={**ERROR_RESPONSES, **_RUN_ERRORS},
)
async def decide(
    request: Request, run_id: RunId, tool_call_id: str, decision: Decision
) -> dict[str, Any]:
    """Approve or deny a tool call the run waits on (with edited ``arguments``, if you like)."""
    owner = principal_of(request)
    try:
        record = await runtime_of(request).runs.approve(
            owner,
            run_id,
            tool_call_id,
            approved=decision.approved,
            reason=decision.reason,
            arguments=decision.arguments,
            by=owner,
        )
    except ToolArgumentsError as exc:
        raise ApiError(422, str(exc), "invalid_arguments") from None
    return record.public()
