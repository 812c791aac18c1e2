"""The provisioner's unit of work: every use case and the engine open transactions on it over these repositories.

`repositories` binds the PostgreSQL repositories to one connection (`PostgresUnitOfWork` calls it for each
transaction); the unit tests give `kernel.unit_of_work.FakeUnitOfWork` in-memory ones (tests/fakes/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from kernel.db import Connection, Pool
from kernel.unit_of_work import PostgresUnitOfWork, UnitOfWork
from services.provisioner.blocks.repository import BlockRepository, PostgresBlockRepository
from services.provisioner.boot.repository import BootRepository, PostgresBootRepository
from services.provisioner.clouds.repository import CloudRepository, PostgresCloudRepository
from services.provisioner.clusters.repository import ClusterRepository, PostgresClusterRepository
from services.provisioner.commands.repository import CommandRepository, PostgresCommandRepository
from services.provisioner.guardrails.repository import GuardrailRepository, PostgresGuardrailRepository
from services.provisioner.instances.repository import InstanceRepository, PostgresInstanceRepository
from services.provisioner.inventory.repository import InventoryRepository, PostgresInventoryRepository
from services.provisioner.modules.repository import ModuleRepository, PostgresModuleRepository
from services.provisioner.placement.repository import PlacementRepository, PostgresPlacementRepository
from services.provisioner.prices.repository import PostgresPriceRepository, PriceRepository
from services.provisioner.resources.repository import PostgresResourceRepository, ResourceRepository
from services.provisioner.runs.repository import PostgresRunRepository, RunRepository
from services.provisioner.templates.kept import KeptVersions
from services.provisioner.templates.repository import PostgresTemplateRepository, TemplateRepository


@dataclass
class Repositories:
    clouds: CloudRepository
    modules: ModuleRepository
    instances: InstanceRepository
    resources: ResourceRepository
    inventory: InventoryRepository
    templates: TemplateRepository
    runs: RunRepository
    boots: BootRepository
    prices: PriceRepository
    clusters: ClusterRepository
    guardrails: GuardrailRepository
    placements: PlacementRepository
    commands: CommandRepository
    launch_blocks: BlockRepository


ProvisionerUnitOfWork: TypeAlias = UnitOfWork[Repositories]


def repositories(conn: Connection, kept: KeptVersions | None = None) -> Repositories:
    """The repositories on `conn`; `kept`: the template and script versions its service keeps in memory."""
    return Repositories(
        clouds=PostgresCloudRepository(conn),
        modules=PostgresModuleRepository(conn),
        instances=PostgresInstanceRepository(conn),
        resources=PostgresResourceRepository(conn),
        inventory=PostgresInventoryRepository(conn),
        templates=PostgresTemplateRepository(conn, kept),
        runs=PostgresRunRepository(conn, kept),
        boots=PostgresBootRepository(conn),
        prices=PostgresPriceRepository(conn),
        clusters=PostgresClusterRepository(conn),
        guardrails=PostgresGuardrailRepository(conn),
        placements=PostgresPlacementRepository(conn),
        commands=PostgresCommandRepository(conn),
        launch_blocks=PostgresBlockRepository(conn),
    )


def on_postgres(
    pool: Callable[[], Pool], *, wrote_events: Callable[[], None] = lambda: None
) -> PostgresUnitOfWork[Repositories]:
    """The unit of work on the pool `pool()` answers (the pool exists only once the service has started);
    `wrote_events` wakes the outbox relay. Its connections share one memory of template and script versions."""
    kept = KeptVersions()
    return PostgresUnitOfWork(pool, lambda conn: repositories(conn, kept), wrote_events=wrote_events)


__all__ = ["ProvisionerUnitOfWork", "Repositories", "on_postgres", "repositories"]
