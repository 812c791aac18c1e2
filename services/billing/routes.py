"""The billing service's public routes: what its app serves and what the gateway proxies."""

from services.billing.budgets import api as budgets_api
from services.billing.costs import api as costs_api
from services.billing.invoices import api as invoices_api

ROUTERS = (costs_api.router, budgets_api.router, invoices_api.router)

__all__ = ["ROUTERS"]
