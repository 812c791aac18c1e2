"""The cloud accounts this provisioner serves and their connected adapters."""

from __future__ import annotations

import asyncio

from adapters.base import CloudAdapter
from adapters.registry import AdapterContext, UnknownDriver, factory
from kernel.db import Pool
from kernel.errors import Conflict, NotFound
from services.provisioner import repository
from services.provisioner.repository import CloudAccount


class CloudDirectory:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._adapters: dict[str, CloudAdapter] = {}
        self._lock = asyncio.Lock()

    async def account(self, cloud_id: str) -> CloudAccount:
        account = await repository.get_cloud(self._pool, cloud_id)
        if account is None:
            raise NotFound(f"Cloud {cloud_id} does not exist.")
        return account

    async def adapter(self, cloud_id: str) -> CloudAdapter:
        """The connected adapter of an enabled account (connected once, then reused)."""
        cached = self._adapters.get(cloud_id)
        if cached is not None:
            return cached
        async with self._lock:
            if cloud_id in self._adapters:
                return self._adapters[cloud_id]
            account = await self.account(cloud_id)
            if not account.enabled:
                raise Conflict(f"Cloud {cloud_id} is disabled.")
            try:
                connect = factory(account.driver)
            except UnknownDriver:
                raise Conflict(f"Cloud {cloud_id} uses the {account.driver} adapter, which is not installed.") from None
            adapter = await connect(account.id, account.config, AdapterContext(pool=self._pool))
            self._adapters[cloud_id] = adapter
            return adapter

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()
