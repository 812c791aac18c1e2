"""The query parameters of the audit trail's listing (the audit service's route and the gateway's declare them with
the same dependency). The trail sorts only by when events happened."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

EventSort = Literal["occurred_at"]
EventPaging = Annotated[PageRequest, Depends(page_query(EventSort))]
DigestSort = Literal["number"]
DigestPaging = Annotated[PageRequest, Depends(page_query(DigestSort, default_order="desc"))]

__all__ = ["DigestPaging", "DigestSort", "EventPaging", "EventSort"]
