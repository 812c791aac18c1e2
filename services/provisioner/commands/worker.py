"""The command worker: carries out recorded commands, woken in this process when one is recorded and polling for
those a killed process held (their lease lapses) and for replacements whose new instance has settled."""

from __future__ import annotations

import asyncio
import logging

from kernel.unit_of_work import UnitOfWork
from services.provisioner.commands.handlers import Carrier
from services.provisioner.commands.repository import CommandRecord
from services.provisioner.unit_of_work import Repositories

log = logging.getLogger(__name__)


class CommandWorker:
    def __init__(self, carrier: Carrier, *, interval: float, concurrency: int, lease: float) -> None:
        self.carrier = carrier
        # A killed worker's command is taken again once this has passed; a launch takes well under it.
        self.lease = lease
        self.interval = interval
        self.wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def _uow(self) -> UnitOfWork[Repositories]:
        return self.carrier.uow

    async def run(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                await self.round()
            except Exception:
                log.exception("a round of commands failed; trying again")
            try:
                async with asyncio.timeout(self.interval):
                    await self.wakeup.wait()
            except TimeoutError:
                pass

    async def round(self) -> None:
        """Carry out every pending command no other worker holds, then finish the settled replacements."""
        async with asyncio.TaskGroup() as group:
            while True:
                await self._slots.acquire()
                async with self._uow.transaction() as tx:
                    command = await tx.repos.commands.claim(self.lease)
                if command is None:
                    self._slots.release()
                    break
                group.create_task(self._carry_out(command))
        async with self._uow.reading() as repos:
            settled = await repos.commands.replacing()
        for command in settled:
            await self.carrier.finish_replacement(command)

    async def _carry_out(self, command: CommandRecord) -> None:
        try:
            await self.carrier.carry_out(command)
        except Exception:
            # Left held: taken again once its lease lapses.
            log.exception("command %s (%s) failed", command.id, command.type)
        finally:
            self._slots.release()


__all__ = ["CommandWorker"]
