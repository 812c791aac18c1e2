"""What the provisioner's listings may be sorted by and filtered on: the query parameters of each (the provisioner's
routes and the gateway's declare them with the same dependencies), and the column each sort reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Protocol

from fastapi import Depends

from kernel.keyset import Column, PageRequest, Where
from kernel.listing_query import page_query

# Instances and every other kind of resource record; the first is the default.
RecordSort = Literal["created_at", "updated_at", "name", "state"]
CloudSort = Literal["created_at", "name"]
SyncSort = Literal["started_at"]

RecordPaging = Annotated[PageRequest, Depends(page_query(RecordSort))]
CloudPaging = Annotated[PageRequest, Depends(page_query(CloudSort))]
# Runs are read newest first unless asked otherwise.
SyncPaging = Annotated[PageRequest, Depends(page_query(SyncSort, default_order="desc"))]

RECORD_SORTS: dict[str, Column] = {
    "created_at": Column("created_at", "timestamptz"),
    "updated_at": Column("updated_at", "timestamptz"),
    "name": Column("name", "text"),
    "state": Column("state", "text"),
}
RECORD_KEY = Column("id", "uuid")
CLOUD_SORTS: dict[str, Column] = {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")}
SYNC_SORTS: dict[str, Column] = {"started_at": Column("started_at", "timestamptz")}


class RecordFilter(Protocol):
    """The filters every record listing has (instances, and each kind of the other resources)."""

    @property
    def project_id(self) -> str: ...
    @property
    def cloud_id(self) -> str | None: ...
    @property
    def states(self) -> Sequence[str]: ...
    @property
    def name(self) -> str | None: ...
    @property
    def discovered(self) -> bool | None: ...


def record_filters(flt: RecordFilter) -> Where:
    """The conditions of the filters every record listing has; None (or no states) filters nothing."""
    return (
        Where()
        .add("project_id = {}", flt.project_id)
        .given("cloud_id = {}", flt.cloud_id)
        .given("state = ANY({}::text[])", flt.states)
        .given("name = {}", flt.name)
        .given("discovered = {}", flt.discovered)
    )


__all__ = [
    "CLOUD_SORTS",
    "RECORD_KEY",
    "RECORD_SORTS",
    "SYNC_SORTS",
    "CloudPaging",
    "CloudSort",
    "RecordFilter",
    "RecordPaging",
    "RecordSort",
    "SyncPaging",
    "SyncSort",
    "record_filters",
]
