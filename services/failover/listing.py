"""What the failover service's listings may be sorted by (its routes and the gateway's declare them with the same
dependencies)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

PolicySort = Literal["created_at", "name"]
HealthSort = Literal["changed_at", "instance_id"]
RefreshSort = Literal["created_at"]

PolicyPaging = Annotated[PageRequest, Depends(page_query(PolicySort))]
HealthPaging = Annotated[PageRequest, Depends(page_query(HealthSort, default_order="desc"))]
RefreshPaging = Annotated[PageRequest, Depends(page_query(RefreshSort, default_order="desc"))]

__all__ = ["HealthPaging", "PolicyPaging", "RefreshPaging"]
