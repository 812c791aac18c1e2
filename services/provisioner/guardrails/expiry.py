"""The follower the provisioner's worker runs for lifetimes and approvals: it sends each expiry warning when it is due,
stops or terminates an instance whose lifetime ended (through the user's action path, so a terminate runs the
template's decommission scripts first), and rejects approvals nobody decided in time.

Time is what `clock` says, so tests move it instead of sleeping.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from adapters.base import InstanceState as S
from kernel.errors import ClanaviError
from kernel.events import InstanceExpired, InstanceExpiryWarned
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.guardrails import domain
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.domain import RESUMING, SUSPENDING, InstanceRecord

log = logging.getLogger(__name__)

# What an ended lifetime does in each state: ask for the action, count it done (its effect holds already, or there
# is nothing to stop), or wait for a transition to end.
_STOP_DONE = frozenset({S.STOPPED.value, S.STOPPING.value, S.TERMINATING.value, S.ERROR.value, S.SUSPENDED.value})
_STOP_WAIT = frozenset({"requested", S.PENDING.value, S.STARTING.value, S.REBOOTING.value, SUSPENDING, RESUMING})


def at_end(record: InstanceRecord) -> Literal["act", "done", "wait"]:
    if record.expiry_action == "terminate":
        return "done" if record.state == S.TERMINATING else "act"
    if record.state in _STOP_DONE:
        return "done"
    return "wait" if record.state in _STOP_WAIT else "act"


def now_utc() -> datetime:
    return datetime.now(UTC)


class ExpiryFollower:
    def __init__(
        self,
        uow: UnitOfWork[Any],
        clouds: CloudDirectory,
        *,
        approval_wait: timedelta,
        clock: Callable[[], datetime] = now_utc,
        batch: int = 100,
    ) -> None:
        self._uow = uow
        self._clouds = clouds
        self._wait = approval_wait
        self._clock = clock
        self._batch = batch

    async def follow(self) -> None:
        now = self._clock()
        await guardrails.lapse_approvals(self._uow, wait=self._wait, now=now, limit=self._batch)
        for record in await self._warn(now):
            await self._end(record, now)

    async def _warn(self, now: datetime) -> list[InstanceRecord]:
        """Send the warnings due; the instances whose lifetime ended."""
        ended = []
        async with self._uow.transaction() as tx:
            for record in await tx.repos.guardrails.expiring(now, self._batch):
                assert record.expires_at is not None
                if now >= record.expires_at:
                    ended.append(record)
                    continue
                due = domain.warnings_due(record.expires_at, record.expiry_warnings, now)
                if due <= record.warnings_sent:
                    continue
                # Only the latest of the warnings due: one the follower missed (a restart) says nothing new.
                tx.emit(
                    record,
                    InstanceExpiryWarned(
                        instance_id=record.id,
                        cloud_id=record.cloud_id,
                        expires_at=record.expires_at,
                        action=record.expiry_action or "stop",
                        warning_hours=record.expiry_warnings[due - 1],
                        seconds_left=(record.expires_at - now).total_seconds(),
                    ),
                )
                await tx.repos.guardrails.set_expiry(record.id, record.expires_at, due)
        return ended

    async def _end(self, record: InstanceRecord, now: datetime) -> None:
        action = record.expiry_action or "stop"
        step = at_end(record)
        if step == "wait":
            return
        correlation_id = str(uuid.uuid4())
        if step == "act":
            try:
                await instances.request_action(
                    self._uow,
                    self._clouds,
                    project_id=record.project_id,
                    instance_id=record.id,
                    action=action,
                    correlation_id=correlation_id,
                )
            except ClanaviError as exc:  # changed meanwhile, or its module is disabled: tried again next round
                log.info("the %s of expired instance %s waits: %s", action, record.id, exc.detail)
                return
        async with self._uow.transaction() as tx:
            assert record.expires_at is not None
            tx.emit(
                replace(record, correlation_id=correlation_id),
                InstanceExpired(
                    instance_id=record.id, cloud_id=record.cloud_id, expires_at=record.expires_at, action=action
                ),
            )
            await tx.repos.guardrails.expired(record.id, now)


__all__ = ["ExpiryFollower", "at_end"]
