"""What the provisioner's listings may be sorted by, and the query parameters of each (the provisioner's routes and
the gateway's declare them with the same dependencies). The repositories map each sort to its column."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

# Instances and every other kind of resource record; the first is the default.
RecordSort = Literal["created_at", "updated_at", "name", "state"]
CloudSort = Literal["created_at", "name"]
SyncSort = Literal["started_at"]

RecordPaging = Annotated[PageRequest, Depends(page_query(RecordSort))]
CloudPaging = Annotated[PageRequest, Depends(page_query(CloudSort))]
# Runs are read newest first unless asked otherwise.
SyncPaging = Annotated[PageRequest, Depends(page_query(SyncSort, default_order="desc"))]

__all__ = ["CloudPaging", "CloudSort", "RecordPaging", "RecordSort", "SyncPaging", "SyncSort"]
