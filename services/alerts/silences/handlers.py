"""Use cases of silences: create, read, expire. A silence names its matchers; it silences from its start to its end
(when recurring, within its weekly window only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kernel.errors import ValidationFailed
from kernel.keyset import PageRequest
from services.alerts.errors import silence_not_found
from services.alerts.silences.domain import Matcher, Silence, Weekly
from services.alerts.silences.repository import SilenceFilter
from services.alerts.unit_of_work import AlertsUnitOfWork


async def create(
    uow: AlertsUnitOfWork,
    *,
    project_id: str,
    matchers: tuple[Matcher, ...],
    starts_at: datetime | None,
    ends_at: datetime,
    weekly: Weekly | None,
    comment: str,
    created_by: str,
) -> Silence:
    now = datetime.now(UTC)
    starts = starts_at or now
    if ends_at <= starts:
        raise ValidationFailed(
            "A silence must end after it starts.",
            errors=[{"location": "body.ends_at", "message": "must come after starts_at", "type": "value_error"}],
        )
    silence = Silence(
        id=str(uuid.uuid4()),
        project_id=project_id,
        matchers=matchers,
        starts_at=starts,
        ends_at=ends_at,
        weekly=weekly,
        comment=comment,
        created_by=created_by,
        created_at=now,
    )
    async with uow.transaction() as tx:
        await tx.repos.silences.add(silence)
    return silence


async def get(uow: AlertsUnitOfWork, project_id: str, silence_id: str) -> Silence:
    async with uow.reading() as repos:
        silence = await repos.silences.get(project_id, silence_id)
    if silence is None:
        raise silence_not_found(silence_id)
    return silence


async def page(uow: AlertsUnitOfWork, flt: SilenceFilter, request: PageRequest) -> tuple[list[Silence], str | None]:
    async with uow.reading() as repos:
        return await repos.silences.page(flt, request)


async def expire(uow: AlertsUnitOfWork, project_id: str, silence_id: str) -> None:
    """The silence ends now (one that ended already stays as it was); it stays in the listing, expired."""
    async with uow.transaction() as tx:
        silence = await tx.repos.silences.get(project_id, silence_id)
        if silence is None:
            raise silence_not_found(silence_id)
        await tx.repos.silences.expire(project_id, silence.id, datetime.now(UTC))
