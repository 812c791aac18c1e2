"""The billing service's unit of work: its use cases and its consumer open transactions on it over these
repositories, bound to one connection each."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Connection
from kernel.unit_of_work import UnitOfWork
from services.billing.budgets.repository import BudgetRepository
from services.billing.catalogs.repository import CatalogRepository
from services.billing.costs.repository import CostRepository
from services.billing.invoices.repository import InvoiceRepository
from services.billing.usage.repository import UsageRepository


@dataclass
class Repositories:
    catalogs: CatalogRepository
    usage: UsageRepository
    costs: CostRepository
    budgets: BudgetRepository
    invoices: InvoiceRepository


def repositories(conn: Connection) -> Repositories:
    return Repositories(
        catalogs=CatalogRepository(conn),
        usage=UsageRepository(conn),
        costs=CostRepository(conn),
        budgets=BudgetRepository(conn),
        invoices=InvoiceRepository(conn),
    )


BillingUnitOfWork = UnitOfWork[Repositories]

__all__ = ["BillingUnitOfWork", "Repositories", "repositories"]
