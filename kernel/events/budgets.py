"""v1 budget events, published by the billing service. The provisioner learns from `budget.launches_blocked` and
`budget.launches_unblocked` which launches to refuse (409 `budget_exceeded`), so a budget acts without a call between
the services; the alerts service turns `budget.threshold_crossed` into notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from kernel.events.envelope import EventPayload


class BudgetScope(BaseModel):
    """What a budget counts: the whole project, the servers with one tag, or one cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["project", "tag", "cluster"]
    tag_key: str | None = None
    tag_value: str | None = None
    cluster_id: str | None = None


class _BudgetEvent(EventPayload):
    budget_id: str
    name: str
    scope: BudgetScope

    SUBJECT = "budget_id"


class BudgetCreated(_BudgetEvent):
    TYPE = "budget.created"
    amount: str
    currency: str


class BudgetUpdated(_BudgetEvent):
    TYPE = "budget.updated"
    amount: str
    currency: str


class BudgetDeleted(_BudgetEvent):
    TYPE = "budget.deleted"


class BudgetThresholdCrossed(_BudgetEvent):
    """Spend in `period` (a month, "2026-12") reached `percent` % of the amount, on the actual spend or the month's
    forecast. Amounts are decimal strings in `currency`."""

    TYPE = "budget.threshold_crossed"
    period: str
    basis: Literal["actual", "forecast"]
    percent: int
    amount: str
    spent: str
    forecast: str
    currency: str
    actions: list[Literal["notify", "block_launches", "stop_servers"]]


class BudgetLaunchesBlocked(_BudgetEvent):
    """From now on the provisioner refuses new launches within `scope` of the project, until unblocked."""

    TYPE = "budget.launches_blocked"
    period: str
    reason: str


class BudgetLaunchesUnblocked(_BudgetEvent):
    """The budget was raised, removed, or a new period began: launches within `scope` are allowed again."""

    TYPE = "budget.launches_unblocked"
    period: str
    reason: str
