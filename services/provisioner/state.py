"""What the provisioner's lifespan built, as its routes reach it from a request: the unit of work, the cloud
directory, the pending-action engine and the inventory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from kernel import correlation
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.unit_of_work import ProvisionerUnitOfWork, Repositories
from services.provisioner.work.engine import Engine

if TYPE_CHECKING:
    from services.provisioner.inventory.handlers import Inventory


def uow_of(request: Request) -> ProvisionerUnitOfWork:
    uow: ProvisionerUnitOfWork = request.app.state.uow
    return uow


def clouds_of(request: Request) -> CloudDirectory:
    clouds: CloudDirectory = request.app.state.clouds
    return clouds


def engine_of(request: Request) -> Engine[Repositories]:
    engine: Engine[Repositories] = request.app.state.engine
    return engine


def inventory_of(request: Request) -> Inventory:
    inventory: Inventory = request.app.state.inventory
    return inventory


def correlation_id() -> str:
    """The request's correlation id (the HTTP layer sets one on every request)."""
    return correlation.accept_or_new(correlation.current.get())


__all__ = ["clouds_of", "correlation_id", "engine_of", "inventory_of", "uow_of"]
