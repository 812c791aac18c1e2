"""The alert rules' API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Seconds = Annotated[float, Field(ge=0, le=7 * 86_400)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")]
MetricName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z_][a-zA-Z0-9_.:]*$")]
LabelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScopeIn(_In):
    """Which instances a rule covers; every criterion given must hold, none given is the whole project."""

    instance_ids: list[Id] = Field(default_factory=list, max_length=500)
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=20
    )
    cloud_id: Id | None = None
    template_id: Id | None = None


class RoutingIn(_In):
    group_by: list[LabelName] = Field(default_factory=list, max_length=10)
    group_wait_seconds: Seconds = 30.0
    group_interval_seconds: Seconds = 300.0
    repeat_interval_seconds: Annotated[float, Field(gt=0, le=30 * 86_400)] = 4 * 3600.0
    inhibits: dict[LabelName, Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict,
        max_length=10,
        description="While an alert of this rule fires, the alerts whose labels have these values send nothing...",
    )
    inhibit_equal: list[LabelName] = Field(
        default_factory=list, max_length=10, description="...when they agree with it on these labels"
    )


class _RuleIn(_In):
    name: Name
    severity: Literal["critical", "warning", "info"] = "warning"
    channel_ids: list[Id] = Field(default_factory=list, max_length=20)
    routing: RoutingIn = Field(default_factory=RoutingIn)


class ThresholdRuleIn(_RuleIn):
    kind: Literal["threshold"]
    metric: MetricName
    operator: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float = Field(allow_inf_nan=False)
    for_seconds: Seconds = Field(default=0.0, alias="for")
    keep_firing_for_seconds: Seconds = Field(default=0.0, alias="keep_firing_for")
    scope: ScopeIn = Field(default_factory=ScopeIn)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NoDataRuleIn(_RuleIn):
    kind: Literal["no_data"]
    metric: MetricName
    quiet_seconds: Annotated[float, Field(ge=1, le=7 * 86_400)]
    scope: ScopeIn = Field(default_factory=ScopeIn)


class EventRateRuleIn(_RuleIn):
    kind: Literal["event_rate"]
    event_type: Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    count: Annotated[int, Field(ge=1, le=100_000)]
    window_seconds: Annotated[float, Field(ge=1, le=7 * 86_400)]
    scope: ScopeIn = Field(default_factory=ScopeIn)


class BudgetRuleIn(_RuleIn):
    kind: Literal["budget"]
    budget_id: Id | None = Field(default=None, description="Any of the project's budgets when not given")
    basis: Literal["actual", "forecast"] | None = None
    min_percent: Annotated[int, Field(ge=1, le=1000)] | None = None


AlertRuleIn = Annotated[ThresholdRuleIn | NoDataRuleIn | EventRateRuleIn | BudgetRuleIn, Field(discriminator="kind")]


class ScopeOut(BaseModel):
    instance_ids: list[str]
    tags: dict[str, str]
    cloud_id: str | None
    template_id: str | None
    template_version: int | None = Field(
        default=None, description="Rules made from a template version's alert specs cover its servers only"
    )


class RoutingOut(BaseModel):
    group_by: list[str]
    group_wait_seconds: float
    group_interval_seconds: float
    repeat_interval_seconds: float
    inhibits: dict[str, str]
    inhibit_equal: list[str]


class AlertRuleOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    kind: Literal["threshold", "no_data", "event_rate", "budget"]
    severity: str
    metric: str | None
    operator: str | None
    value: float | None
    for_seconds: float = Field(alias="for")
    keep_firing_for_seconds: float = Field(alias="keep_firing_for")
    quiet_seconds: float | None
    event_type: str | None
    count: int | None
    window_seconds: float | None
    budget_id: str | None
    basis: str | None
    min_percent: int | None
    scope: ScopeOut
    channel_ids: list[str]
    routing: RoutingOut
    created_at: datetime
    updated_at: datetime
