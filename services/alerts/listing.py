"""What the alerts service's listings may be sorted by (its routes and the gateway's declare them with the same
dependencies)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

RuleSort = Literal["created_at", "name"]
AlertSort = Literal["started_at", "updated_at"]
ChannelSort = Literal["created_at", "name"]
DeliverySort = Literal["created_at"]
SilenceSort = Literal["created_at", "ends_at"]

RulePaging = Annotated[PageRequest, Depends(page_query(RuleSort))]
AlertPaging = Annotated[PageRequest, Depends(page_query(AlertSort, default_order="desc"))]
ChannelPaging = Annotated[PageRequest, Depends(page_query(ChannelSort))]
DeliveryPaging = Annotated[PageRequest, Depends(page_query(DeliverySort, default_order="desc"))]
SilencePaging = Annotated[PageRequest, Depends(page_query(SilenceSort, default_order="desc"))]

__all__ = ["AlertPaging", "ChannelPaging", "DeliveryPaging", "RulePaging", "SilencePaging"]
