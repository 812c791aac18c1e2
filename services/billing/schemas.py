"""The billing API's models (the gateway imports them for its OpenAPI document), one module per concept."""

from kernel.pagination import Page
from services.billing.budgets.schemas import BudgetIn, BudgetOut
from services.billing.costs.schemas import CostGroupOut, RerateIn, RerateOut
from services.billing.invoices.schemas import InvoiceOut, InvoiceSummaryOut

__all__ = ["InvoiceOut", "InvoiceSummaryOut", "BudgetIn", "BudgetOut", "CostGroupOut", "Page", "RerateIn", "RerateOut"]
