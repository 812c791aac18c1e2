"""What the scaler's lifespan built, as its routes reach it from a request; and the request's correlation id."""

from __future__ import annotations

from fastapi import Request

from kernel import correlation
from services.scaler.unit_of_work import ScalerUnitOfWork

__all__ = ["correlation_id", "uow_of"]


def uow_of(request: Request) -> ScalerUnitOfWork:
    uow: ScalerUnitOfWork = request.app.state.uow
    return uow


def correlation_id() -> str:
    return correlation.accept_or_new(correlation.current.get())
