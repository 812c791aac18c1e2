"""The provisioner's parts on a real database, for the integration tests that drive its use cases directly: its
unit of work, a cloud directory over adapters the test connected, the engine, and a cloud recorded as configuration
would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.base import CloudAdapter
from adapters.registry import AdapterContext
from kernel import db
from kernel.unit_of_work import PostgresUnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud, Source
from services.provisioner.clouds.repository import PostgresCloudRepository
from services.provisioner.modules.handlers import disabled_modules
from services.provisioner.resources.handlers import Ports
from services.provisioner.unit_of_work import Repositories, on_postgres
from services.provisioner.work.engine import Engine
from services.provisioner.work.pacing import Pacer, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, throttle_budget=60.0)


@dataclass(frozen=True)
class Parts:
    pool: db.Pool
    uow: PostgresUnitOfWork[Repositories]
    clouds: CloudDirectory
    engine: Engine

    @property
    def ports(self) -> Ports:
        return Ports(self.uow, self.clouds, self.engine)


def parts(
    pool: db.Pool,
    connected: Mapping[str, CloudAdapter] | None = None,
    *,
    policy: RetryPolicy = POLICY,
    pacer: Pacer | None = None,
    lease: float = 30.0,
    disabled: Iterable[str] = (),
) -> Parts:
    uow = on_postgres(lambda: pool)
    clouds = CloudDirectory(uow, context=AdapterContext(pool=pool), connected=connected, disabled_modules=disabled)
    return Parts(pool, uow, clouds, Engine(uow, clouds, policy=policy, pacer=pacer or Pacer(), lease=lease))


async def add_cloud(
    pool: db.Pool,
    cloud_id: str,
    *,
    project_id: str,
    name: str = "SimCloud",
    driver: str = "simcloud",
    config: Mapping[str, Any] | None = None,
    credentials: bytes | None = None,
    credentials_key_id: str | None = None,
    credential_fields: tuple[str, ...] = (),
    source: Source = "configuration",
) -> Cloud:
    async with pool.acquire() as conn:
        return await PostgresCloudRepository(conn).add(
            Cloud(
                id=cloud_id,
                project_id=project_id,
                name=name,
                driver=driver,
                config=dict(config or {}),
                enabled=True,
                created_at=datetime.now(UTC),
                credentials=credentials,
                credentials_key_id=credentials_key_id,
                credential_fields=credential_fields,
                source=source,
            )
        )


async def started(pool: db.Pool, connected: Mapping[str, CloudAdapter] | None = None) -> Parts:
    """The parts as a provisioner starting now makes them: with the modules an admin disabled."""
    return parts(pool, connected, disabled=await disabled_modules(on_postgres(lambda: pool)))


__all__ = ["POLICY", "Parts", "add_cloud", "parts", "started"]
