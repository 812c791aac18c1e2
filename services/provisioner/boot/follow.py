"""The boot follower: while an instance launched from a template boots, read its console now and then and keep its
`boot` section, with the events of what the reading found.

A console is read once every `read_every` seconds per booting instance, never on an API request: a list of instances
costs no console reads. The first reading comes once the instance runs, or `read_every` after the launch was asked for
if it is still pending by then, not at once: until then the cloud is still being asked or the guest has only begun to
boot, and a reading would find nothing to keep. A guest that runs has got far into its boot (some clouds report it
running only once it booted, as SimCloud does), and its outcome is known without waiting for the interval to pass.
Following stops when the boot is over, when the instance ends or fails (the boot is then `unknown`), or `bound` seconds
after the launch was asked for (`unknown` too). As the engine does, nothing of the database is held while a cloud is
called: the due boots are read, the consoles fetched, then the instances are locked and their progress saved in one
short transaction for the whole pass (one statement locks them, one saves them, one writes their events), as a pass
reads the boots of a whole batch of launches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from adapters.base import CloudError
from adapters.base import InstanceState as S
from kernel.errors import ClanaviError
from kernel.events import EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner.boot import domain
from services.provisioner.boot.domain import About, BootSection
from services.provisioner.boot.progress import read
from services.provisioner.boot.repository import Booting, BootRepository, BootSaved, DueBoot
from services.provisioner.instances.domain import ENDED
from services.provisioner.instances.repository import InstanceRepository
from services.provisioner.work.engine import Connected

__all__ = ["BootFollower", "BootStore"]

log = logging.getLogger(__name__)

# States in which the instance may be booting: the console is read then. Some clouds boot the guest while they still
# report it pending (SimCloud does), others refuse to show the console of a pending one (that reading just fails).
_BOOTING = frozenset({S.PENDING.value, S.RUNNING.value})
# States in which the instance's boot can no longer end. A stopped one may start again: its console then shows the
# interrupted boot, and the bound ends a wait that lasts.
_OVER = ENDED | {S.TERMINATING.value, S.ERROR.value}
# Boots read in one pass, and consoles fetched at once.
_BATCH = 64
_AT_ONCE = 8


class BootStore(Protocol):
    @property
    def boots(self) -> BootRepository: ...
    @property
    def instances(self) -> InstanceRepository: ...


class BootFollower:
    def __init__(
        self,
        uow: UnitOfWork[BootStore],
        clouds: Connected,
        *,
        read_every: float,
        bound: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._clouds = clouds
        self._read_every = timedelta(seconds=read_every)
        self._bound = timedelta(seconds=bound)
        self._slots = asyncio.Semaphore(_AT_ONCE)

    async def follow(self) -> int:
        """Read the consoles of the boots that are due and keep what they show; how many boots were looked at."""
        async with self._uow.reading() as repos:
            due = await repos.boots.due(_BATCH, self._read_every)
        if not due:
            return 0
        consoles = await asyncio.gather(*(self._console(record) for record in due))
        await self._take({record.id: console for record, console in zip(due, consoles, strict=True)})
        return len(due)

    async def _console(self, record: DueBoot) -> str | None:
        if record.provider_id is None or record.state not in _BOOTING:
            return None
        async with self._slots:
            try:
                adapter = await self._clouds.adapter(record.cloud_id)
                return await adapter.console_output(record.provider_id)
            except (CloudError, ClanaviError) as exc:
                level = logging.WARNING if record.state == S.RUNNING else logging.DEBUG
                log.log(level, "could not read the console of instance %s: %s", record.id, exc)
                return None

    def _progressed(
        self, record: Booting, section: BootSection, console: str | None, now: datetime
    ) -> tuple[BootSection, list[EventPayload]]:
        about = About(record.id, record.cloud_id, record.template_id or "", record.template_version or 0)
        if record.state in _OVER:
            return domain.given_up(section, about, now)
        events: list[EventPayload] = []
        if console is not None:
            section, events = domain.progressed(section, read(console, section.parts), about)
        if not section.over and now - record.created_at > self._bound:
            section, more = domain.given_up(section, about, now)
            events += more
        return section, events

    async def _take(self, consoles: dict[str, str | None]) -> None:
        """Keep what the consoles showed, by instance id, in one transaction."""
        async with self._uow.transaction() as tx:
            records = await tx.repos.boots.lock(list(consoles))
            now = self._clock()
            saved = []
            for record in records:
                before = domain.section_of(record.boot)
                after, events = self._progressed(record, before, consoles[record.id], now)
                last = tx.changed(record, *events).last_event_id if events else None
                read_at = None if after.over else now + self._read_every
                saved.append(BootSaved(record.id, after.stored(), read_at, last))
                if after != before:
                    log.info("instance %s boot %s", record.id, after.state)
            await tx.repos.boots.save(saved)
