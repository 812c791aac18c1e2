"""The budgets that block launches now: why a launch answers 409 `budget_exceeded`."""

from __future__ import annotations

from typing import Literal

from clanavi.client._calls import page_of, query
from clanavi.client._endpoints import M, Namespace, listing
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.provisioner.blocks.schemas import LaunchBlockOut

__all__ = ["LaunchBlocks"]

ScopeKind = Literal["project", "tag", "cluster"]


class LaunchBlocks(Namespace[M]):
    """`/v1/launch-blocks`: read-only; the billing service's budgets set and lift them."""

    @listing
    def list(
        self,
        *,
        kind: ScopeKind | None = None,
        budget_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[LaunchBlockOut]:
        filters = query(kind=kind, budget_id=budget_id)
        return Listing("/v1/launch-blocks", page_of(LaunchBlockOut), filters, query(sort=sort, order=order), limit)
