"""Costs (the billing service's rated usage, summed or exported in FOCUS columns) and budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import httpx

from clanavi.client._calls import Call, body, model_of, nothing, page_of, path, query, text
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.billing.budgets.schemas import BudgetIn, BudgetOut
from services.billing.costs.schemas import CostGroupOut, RerateIn, RerateOut
from services.billing.invoices.schemas import InvoiceOut, InvoiceSummaryOut

__all__ = ["Budgets", "Costs", "Invoices"]


class Costs(Namespace[M]):
    """`/v1/costs`: cost lines summed by what you group them by, exported, re-rated."""

    @listing
    def list(
        self,
        *,
        group_by: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        cloud_id: str | None = None,
        resource_id: str | None = None,
        cluster_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> Listing[CostGroupOut]:
        """Sums per currency by `group_by` (`day`, `month`, `cloud`, `resource`, `cluster`, `template`,
        `scaling_group`, `service`, `region`, `resource_type`, `tag:<key>`; by default `day`)."""
        filters = query(
            group_by=list(group_by) if group_by else None,
            start=start,
            end=end,
            cloud_id=cloud_id,
            resource_id=resource_id,
            cluster_id=cluster_id,
            tag=tag,
        )
        return Listing("/v1/costs", page_of(CostGroupOut), filters, (), limit)

    @operation
    def export(
        self,
        *,
        format: Literal["csv", "jsonl"] = "csv",  # noqa: A002 - the API's parameter
        start: datetime | None = None,
        end: datetime | None = None,
        cloud_id: str | None = None,
        resource_id: str | None = None,
        cluster_id: str | None = None,
        tag: str | None = None,
    ) -> Call[str]:
        """Every cost line under the filters in FOCUS 1.2 columns, as CSV (a header row first) or JSON lines."""
        params = query(
            format=format,
            start=start,
            end=end,
            cloud_id=cloud_id,
            resource_id=resource_id,
            cluster_id=cluster_id,
            tag=tag,
        )
        accept = "text/csv" if format == "csv" else "application/x-ndjson"
        return Call("GET", "/v1/costs/export", text, params=params, accept=f"{accept}, application/problem+json")

    @operation
    def rerate(self, period: RerateIn | Mapping[str, Any]) -> Call[RerateOut]:
        """Rate [start, end) again with the prices known now: the differences as Correction lines."""
        content = body(RerateIn, period)
        return Call("POST", "/v1/costs/rerate", model_of(RerateOut), content=content)


class Budgets(Namespace[M]):
    """`/v1/budgets`: monthly amounts over a scope, with thresholds that notify, block launches or stop servers."""

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        scope: Literal["project", "tag", "cluster"] | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[BudgetOut]:
        return Listing(
            "/v1/budgets", page_of(BudgetOut), query(name=name, scope=scope), query(sort=sort, order=order), limit
        )

    @operation
    def get(self, budget_id: str) -> Call[BudgetOut]:
        return Call("GET", path("/v1/budgets/{}", budget_id), model_of(BudgetOut))

    @operation
    def create(self, budget: BudgetIn | Mapping[str, Any]) -> Call[BudgetOut]:
        return Call("POST", "/v1/budgets", model_of(BudgetOut), content=body(BudgetIn, budget))

    @operation
    def replace(self, budget_id: str, budget: BudgetIn | Mapping[str, Any]) -> Call[BudgetOut]:
        """Set the whole budget anew, as when created."""
        content = body(BudgetIn, budget)
        return Call("PUT", path("/v1/budgets/{}", budget_id), model_of(BudgetOut), content=content)

    @operation
    def delete(self, budget_id: str) -> Call[None]:
        return Call("DELETE", path("/v1/budgets/{}", budget_id), nothing)


def _content(response: httpx.Response) -> bytes:
    return response.content


class Invoices(Namespace[M]):
    """`/v1/invoices`: a project's cost per month, as JSON, CSV or PDF."""

    @listing
    def list(self, *, limit: int | None = None) -> Listing[InvoiceSummaryOut]:
        return Listing("/v1/invoices", page_of(InvoiceSummaryOut), (), (), limit)

    @operation
    def get(self, month: str) -> Call[InvoiceOut]:
        """A month's invoice (YYYY-MM): its lines per resource and component, its totals per currency."""
        return Call("GET", path("/v1/invoices/{}", month), model_of(InvoiceOut))

    @operation
    def download(self, month: str, format: Literal["csv", "pdf"] = "pdf") -> Call[bytes]:  # noqa: A002
        """The month's invoice as a CSV or PDF file's bytes."""
        accept = "text/csv" if format == "csv" else "application/pdf"
        return Call(
            "GET",
            path("/v1/invoices/{}", month),
            _content,
            params=query(format=format),
            accept=f"{accept}, application/problem+json",
        )
