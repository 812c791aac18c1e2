"""The project's guard-rails, and the approvals of launches that cost more than its threshold."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from clanavi.client._calls import Call, body, model_of, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.provisioner.guardrails.schemas import GuardrailsIn, GuardrailsOut, RejectIn
from services.provisioner.schemas import ApprovalOut

__all__ = ["Approvals", "Guardrails"]

ApprovalState = Literal["pending", "approved", "rejected"]


class Guardrails(Namespace[M]):
    """`/v1/guardrails`: the caller's project's quotas, required tags, lifetimes and approval threshold."""

    @operation
    def get(self) -> Call[GuardrailsOut]:
        return Call("GET", "/v1/guardrails", model_of(GuardrailsOut))

    @operation
    def set(self, rails: GuardrailsIn | Mapping[str, Any]) -> Call[GuardrailsOut]:
        """Replace the guard-rails whole (a field left out: no limit). Owners only."""
        content = body(GuardrailsIn, rails)
        return Call("PUT", "/v1/guardrails", model_of(GuardrailsOut), content=content)


class Approvals(Namespace[M]):
    """`/v1/approvals`: launches waiting for (or given) an owner's decision."""

    @listing
    def list(
        self,
        *,
        state: ApprovalState | Collection[ApprovalState] | None = None,
        instance_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[ApprovalOut]:
        filters = query(state=state, instance_id=instance_id)
        return Listing("/v1/approvals", page_of(ApprovalOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, approval_id: str) -> Call[ApprovalOut]:
        return Call("GET", path("/v1/approvals/{}", approval_id), model_of(ApprovalOut))

    @operation
    def approve(self, approval_id: str) -> Call[ApprovalOut]:
        """The launch goes on; approving again answers the same. Owners only."""
        return Call("POST", path("/v1/approvals/{}/approve", approval_id), model_of(ApprovalOut))

    @operation
    def reject(self, approval_id: str, reason: str) -> Call[ApprovalOut]:
        """The launch ends `rejected` with the reason. Owners only."""
        content = body(RejectIn, {"reason": reason})
        return Call("POST", path("/v1/approvals/{}/reject", approval_id), model_of(ApprovalOut), content=content)
