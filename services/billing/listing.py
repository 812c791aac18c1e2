"""What the billing service's listings may be sorted by (its routes and the gateway's declare them with the same
dependencies)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

BudgetSort = Literal["created_at", "name"]

BudgetPaging = Annotated[PageRequest, Depends(page_query(BudgetSort))]

__all__ = ["BudgetPaging"]
