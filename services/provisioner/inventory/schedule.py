"""Inventory sync on a schedule: every enabled cloud is synced once per interval, the clouds spread over it (a cloud
never synced is first due some time after this process started, not all of them at once)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.inventory.handlers import Inventory

log = logging.getLogger(__name__)


class Schedule:
    def __init__(self, inventory: Inventory, *, interval: float = 300.0) -> None:
        """`interval`: seconds between syncs of each cloud (0: none)."""
        self._inventory = inventory
        self._interval = interval
        self._first_due: dict[str, datetime] = {}

    async def run(self) -> None:
        """Sync every enabled cloud once per interval, the clouds spread over it; runs until cancelled."""
        if self._interval <= 0:
            return
        while True:
            try:
                wait = await self.sync_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling inventory syncs failed")
                wait = min(self._interval, 30.0)
            await asyncio.sleep(wait)

    async def sync_due(self) -> float:
        """Sync the clouds whose turn has come, one after the other; answer the seconds until the next is due."""
        async with self._inventory.uow.reading() as repos:
            every = await repos.clouds.every()
            last = await repos.inventory.last_started()
        directory = self._inventory.clouds
        clouds = [
            c
            for c in every
            if c.enabled and directory.module_enabled(c.driver) and directory.module_available(c.driver)
        ]
        if not clouds:
            return self._interval
        gap = self._interval / len(clouds)
        now = datetime.now(UTC)
        due: dict[str, datetime] = {}
        for n, cloud in enumerate(clouds):
            if cloud.id in last:
                due[cloud.id] = last[cloud.id] + timedelta(seconds=self._interval)
            else:
                due[cloud.id] = self._first_due.setdefault(cloud.id, now + timedelta(seconds=gap * (n + 1)))
        later: list[datetime] = []
        for cloud in sorted(clouds, key=lambda c: due[c.id]):
            if due[cloud.id] > datetime.now(UTC):
                later.append(due[cloud.id])
                continue
            try:
                await self._inventory.sync(cloud.id, trigger="scheduled", correlation_id=f"sync-{uuid.uuid4()}")
            except ModuleIsDisabled:
                continue  # disabled since the list was read
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduled sync of cloud %s could not start", cloud.id)
        if not later:
            return gap
        return max(0.05, min(gap, (min(later) - datetime.now(UTC)).total_seconds()))


__all__ = ["Schedule"]
