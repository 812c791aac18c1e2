"""The silence routes: parse, call a handler, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.alerts.listing import SilencePaging
from services.alerts.silences import handlers
from services.alerts.silences.domain import Matcher, Silence, Weekly
from services.alerts.silences.repository import SilenceFilter
from services.alerts.silences.schemas import MatcherOut, SilenceIn, SilenceOut, WeeklyOut
from services.alerts.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "alerts")


def silence_out(s: Silence, now: datetime | None = None) -> SilenceOut:
    now = now or datetime.now(UTC)
    return SilenceOut(
        id=s.id,
        matchers=[MatcherOut(label=m.label, value=m.value, regex=m.regex) for m in s.matchers],
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        weekly=None if s.weekly is None else WeeklyOut(**s.weekly.as_json()),
        comment=s.comment,
        created_by=s.created_by,
        state=s.state(now),
        created_at=s.created_at,
    )


@routes.post(
    "/silences",
    SilenceOut,
    "Create a silence",
    status=201,
    problems=(403,),
    description="While active, the alerts whose labels match every matcher (`alertname` is the rule's name; "
    "`instance_id`, `severity` and the rule's other labels) still show, marked silenced, and send nothing. "
    "`weekly` makes it recur in a weekly window of an IANA time zone between `starts_at` and `ends_at`.",
)
async def create_silence(request: Request, body: SilenceIn, caller: Operator) -> Response:
    silence = await handlers.create(
        uow_of(request),
        project_id=caller.project_id,
        matchers=tuple(Matcher(m.label, m.value, m.regex) for m in body.matchers),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        weekly=None
        if body.weekly is None
        else Weekly(
            tuple(sorted(set(body.weekly.days))), body.weekly.start, body.weekly.duration_minutes, body.weekly.time_zone
        ),
        comment=body.comment,
        created_by=caller.principal,
    )
    return answer(silence_out(silence), status=201)


@routes.get("/silences", Page[SilenceOut], "List silences")
async def list_silences(
    request: Request,
    caller: Reader,
    paging: SilencePaging,
    state: Annotated[Literal["active", "expired"] | None, Query(description="`active`: not ended yet")] = None,
) -> Response:
    now = datetime.now(UTC)
    flt = SilenceFilter(project_id=caller.project_id, state=state, now=now)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(SilenceOut, [silence_out(s, now) for s in records], next_cursor)


@routes.get("/silences/{silence_id}", SilenceOut, "A silence", problems=(404,))
async def get_silence(request: Request, silence_id: str, caller: Reader) -> Response:
    return answer(silence_out(await handlers.get(uow_of(request), caller.project_id, silence_id)))


@routes.delete(
    "/silences/{silence_id}",
    None,
    "Expire a silence",
    status=204,
    problems=(403, 404),
    description="It ends now and stays in the listing, expired.",
)
async def expire_silence(request: Request, silence_id: str, caller: Operator) -> Response:
    await handlers.expire(uow_of(request), caller.project_id, silence_id)
    return Response(status_code=204)
