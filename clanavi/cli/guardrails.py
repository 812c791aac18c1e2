"""`clanavi guardrails` (the project's quotas, required tags, lifetimes and approval threshold) and `clanavi
approvals` (launches that wait for an owner's decision)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.records import add_one
from clanavi.client.models import ApprovalOut, GuardrailsIn

__all__ = ["approvals", "guardrails"]

guardrails = typer.Typer(help="Guard-rails: the project's quotas, required tags, lifetimes and approval threshold.")
approvals = typer.Typer(help="Approvals: launches costing more a month than the project's threshold, and decisions.")


@command(guardrails, "show")
def guardrails_show(cli: Invocation) -> None:
    """The project's guard-rails (null: no limit)."""
    with cli.client() as client:
        cli.display.record(client.guardrails.get())


def _tag(text: str) -> tuple[str, list[str]]:
    key, _, values = text.partition("=")
    if not key:
        raise typer.BadParameter("KEY or KEY=VALUE,VALUE...", param_hint="--required-tag")
    return key, [v for v in values.split(",") if v] if values else []


@command(guardrails, "set")
def guardrails_set(
    cli: Invocation,
    max_instances: Annotated[int | None, typer.Option("--max-instances", help="Instances that have not ended.")] = None,
    max_vcpus: Annotated[int | None, typer.Option("--max-vcpus", help="Their vCPUs.")] = None,
    max_monthly_cost: Annotated[
        Decimal | None, typer.Option("--max-monthly-cost", help="Their monthly cost, in --currency.")
    ] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217, e.g. USD.")] = None,
    required_tag: Annotated[
        list[str] | None,
        typer.Option("--required-tag", help="KEY, or KEY=V1,V2 for its allowed values (repeat for several)."),
    ] = None,
    max_lifetime_hours: Annotated[
        int | None, typer.Option("--max-lifetime-hours", help="Every instance ends this long after its launch.")
    ] = None,
    expiry_action: Annotated[str, typer.Option("--expiry-action", help="stop or terminate.")] = "stop",
    expiry_warning: Annotated[
        list[float] | None,
        typer.Option("--expiry-warning", help="Hours before the end to warn (repeat for several)."),
    ] = None,
    approval_threshold: Annotated[
        Decimal | None,
        typer.Option("--approval-threshold", help="A launch costing more a month waits for an owner's approval."),
    ] = None,
) -> None:
    """Replace the project's guard-rails whole: what is left out is no limit. Owners only."""
    wanted = {
        "max_instances": max_instances,
        "max_vcpus": max_vcpus,
        "max_monthly_cost": max_monthly_cost,
        "currency": currency,
        "required_tags": dict(_tag(t) for t in required_tag or ()),
        "max_lifetime_hours": max_lifetime_hours,
        "expiry_action": expiry_action,
        "expiry_warnings": list(expiry_warning or ()),
        "approval_threshold": approval_threshold,
    }
    with cli.client() as client:
        cli.display.record(client.guardrails.set(GuardrailsIn.model_validate(wanted)))


add_list(
    approvals,
    of=lambda client: client.approvals.list,
    model=ApprovalOut,
    help="The project's approvals, oldest first.",
    filters=(
        Filter(
            "state",
            "--state",
            "Only those in this state (repeat for several).",
            choices=("pending", "approved", "rejected"),
            many=True,
        ),
        Filter("instance_id", "--instance", "Only the approval of this instance's launch."),
    ),
    sorts=("created_at", "updated_at"),
)
add_one(
    approvals, "show", lambda client, approval_id: client.approvals.get(approval_id), "One approval, by its id.", "ID"
)


@command(approvals, "approve")
def approvals_approve(cli: Invocation, approval_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Approve a waiting launch: it goes on. Owners only."""
    with cli.client() as client:
        cli.display.record(client.approvals.approve(approval_id))


@command(approvals, "reject")
def approvals_reject(
    cli: Invocation,
    approval_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why: the instance ends `rejected` with it.")],
) -> None:
    """Reject a waiting launch: its instance ends `rejected`. Owners only."""
    with cli.client() as client:
        cli.display.record(client.approvals.reject(approval_id, reason))
