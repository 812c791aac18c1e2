"""How guard-rails and approvals are answered (the launch's answer shows its approval too)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request

from services.provisioner.guardrails.domain import Approval, Guardrails
from services.provisioner.guardrails.schemas import GuardrailsOut
from services.provisioner.schemas import ApprovalOut

# How long an approval waits before it lapses, when the app was not told (its settings tell it).
DEFAULT_APPROVAL_WAIT = timedelta(hours=72)


def approval_wait(request: Request) -> timedelta:
    wait: timedelta = getattr(request.app.state, "approval_wait", DEFAULT_APPROVAL_WAIT)
    return wait


def guardrails_out(rails: Guardrails) -> GuardrailsOut:
    return GuardrailsOut(
        project_id=rails.project_id,
        version=rails.version,
        max_instances=rails.max_instances,
        max_vcpus=rails.max_vcpus,
        max_monthly_cost=rails.max_monthly_cost,
        currency=rails.currency,
        required_tags={k: list(v) for k, v in rails.required_tags.items()},
        max_lifetime_hours=rails.max_lifetime_hours,
        expiry_action=rails.expiry_action,
        expiry_warnings=list(rails.expiry_warnings),
        approval_threshold=rails.approval_threshold,
        changed_by=rails.changed_by or None,
        changed_at=rails.changed_at,
    )


def approval_out(approval: Approval, wait: timedelta) -> ApprovalOut:
    return ApprovalOut.model_validate(
        {
            "id": approval.id,
            "instance_id": approval.instance_id,
            "state": approval.state,
            "monthly": approval.monthly,
            "currency": approval.currency,
            "threshold": approval.threshold,
            "requested_by": approval.requested_by,
            "decided_by": approval.decided_by,
            "reason": approval.reason,
            "created_at": approval.created_at,
            "updated_at": approval.updated_at,
            "decided_at": approval.decided_at,
            "expires_at": approval.created_at + wait,
        }
    )


__all__ = ["DEFAULT_APPROVAL_WAIT", "approval_out", "approval_wait", "guardrails_out"]
