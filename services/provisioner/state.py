"""What the provisioner's lifespan built, as every concept's routes reach it from a request: the unit of work (each
use case sees the repositories it declares) and the pending-action engine; and the request's correlation id. The cloud
directory and the inventory are reached through their own concepts' routes (`clouds.api`, `inventory.api`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from kernel import correlation
from kernel.unit_of_work import UnitOfWork
from services.provisioner.work.engine import Engine


def uow_of(request: Request) -> UnitOfWork[Any]:
    uow: UnitOfWork[Any] = request.app.state.uow
    return uow


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def correlation_id() -> str:
    """The request's correlation id (the HTTP layer sets one on every request)."""
    return correlation.accept_or_new(correlation.current.get())


__all__ = ["correlation_id", "engine_of", "uow_of"]
