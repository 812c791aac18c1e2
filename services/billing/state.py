"""What the billing service's lifespan built, as its routes reach it from a request."""

from __future__ import annotations

from fastapi import Request

from services.billing.unit_of_work import BillingUnitOfWork


def uow_of(request: Request) -> BillingUnitOfWork:
    uow: BillingUnitOfWork = request.app.state.uow
    return uow


__all__ = ["uow_of"]
