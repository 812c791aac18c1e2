"""The scaler API's request and response bodies (the gateway imports them for its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.scaler.groups.domain import DEFAULT_TERMINATION, TerminationPolicy

__all__ = [
    "ItemsOf",
    "ActivityOut",
    "GroupIn",
    "GroupOut",
    "GroupPatch",
    "HeartbeatIn",
    "HistoryOut",
    "HistoryPointOut",
    "HookAnswerIn",
    "HookIn",
    "MemberOut",
    "PolicyIn",
    "PolicyOut",
    "ProtectionIn",
    "StepIn",
]

T = TypeVar("T")


class ItemsOf(BaseModel, Generic[T]):
    """A short list answered whole."""

    items: list[T]


Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Size = Field(ge=0, le=10_000)
Id = Field(min_length=1, max_length=64)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HookIn(_In):
    name: str = Name
    transition: Literal["launching", "terminating"]
    timeout_seconds: int = Field(ge=1, le=7200, description="Required: a hook without a timeout could hold forever.")
    default_result: Literal["CONTINUE", "ABANDON"] = "ABANDON"


class GroupIn(_In):
    name: str = Name
    template_id: str | None = Field(default=None, min_length=1, max_length=64, description="With template_version.")
    template_version: int | None = Field(default=None, ge=1)
    cluster_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="With cluster_role, in place of a template version: the group's members are the role's.",
    )
    cluster_role: str | None = Field(default=None, min_length=1, max_length=100)
    min_size: int = Size
    max_size: int = Size
    desired: int | None = Field(default=None, ge=0, le=10_000, description="Null: min_size.")
    allowed_clouds: list[str] = Field(default_factory=list, max_length=50)
    allowed_zones: list[str] = Field(default_factory=list, max_length=50)
    strategy: Literal["cheapest", "spread", "pack"] = "spread"
    tags: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="Given to every member (`simcloud:load` among them)."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Template input values; never a secret.")
    cooldown_seconds: int = Field(default=300, ge=0, le=86_400)
    stabilisation_seconds: int = Field(default=300, ge=0, le=3600, description="The scale-in stabilisation window.")
    termination_policies: list[TerminationPolicy] = Field(default_factory=lambda: list(DEFAULT_TERMINATION))
    lifecycle_hooks: list[HookIn] = Field(default_factory=list, max_length=2)


class GroupPatch(_In):
    min_size: int | None = Field(default=None, ge=0, le=10_000)
    max_size: int | None = Field(default=None, ge=0, le=10_000)
    desired: int | None = Field(default=None, ge=0, le=10_000)
    template_version: int | None = Field(default=None, ge=1)
    allowed_clouds: list[str] | None = Field(default=None, max_length=50)
    allowed_zones: list[str] | None = Field(default=None, max_length=50)
    strategy: Literal["cheapest", "spread", "pack"] | None = None
    tags: dict[str, str] | None = Field(default=None, max_length=50)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=86_400)
    stabilisation_seconds: int | None = Field(default=None, ge=0, le=3600)
    termination_policies: list[TerminationPolicy] | None = None
    lifecycle_hooks: list[HookIn] | None = Field(default=None, max_length=2)


class GroupOut(BaseModel):
    id: str
    name: str
    template_id: str
    template_version: int
    min_size: int
    max_size: int
    desired: int
    allowed_clouds: list[str]
    allowed_zones: list[str]
    strategy: str
    tags: dict[str, str]
    inputs: dict[str, Any]
    cooldown_seconds: int
    stabilisation_seconds: int
    termination_policies: list[str]
    lifecycle_hooks: list[HookIn]
    created_at: datetime | None
    updated_at: datetime | None
    last_scaled_at: datetime | None
    failures: int = Field(description="Failed launches in a row.")
    backoff_until: datetime | None = Field(description="No launch before this time (after failed launches).")
    cluster_id: str | None = Field(default=None, description="A group over a cluster role: its cluster.")
    cluster_role: str | None = None


class MemberOut(BaseModel):
    instance_id: str
    state: str
    zone: str | None
    template_version: int | None
    protected: bool
    hook: str | None = Field(description="The lifecycle hook it waits in.")
    hook_deadline: datetime | None
    created_at: datetime
    running_since: datetime | None


class ProtectionIn(_In):
    protected: bool


class HookAnswerIn(_In):
    instance_id: str = Id
    result: Literal["CONTINUE", "ABANDON"]


class HeartbeatIn(_In):
    instance_id: str = Id


class StepIn(_In):
    lower: float | None = Field(default=None, description="The metric at or above this (null: no lower bound).")
    upper: float | None = Field(default=None, description="The metric below this (null: no upper bound).")
    adjustment: int = Field(ge=-10_000, le=10_000)


class PolicyIn(_In):
    name: str = Name
    kind: Literal["target_tracking", "step", "scheduled"]
    metric: str | None = Field(default=None, max_length=100)
    target: float | None = Field(default=None, gt=0)
    warmup_seconds: int = Field(default=60, ge=0, le=3600)
    tolerance: float = Field(default=0.1, ge=0, lt=1)
    adjustment_type: Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"] = "ChangeInCapacity"
    steps: list[StepIn] = Field(default_factory=list, max_length=20)
    min_adjustment_magnitude: int = Field(default=0, ge=0, le=10_000)
    cron: str | None = Field(default=None, max_length=200)
    time_zone: str = Field(default="UTC", max_length=64)
    min_size: int | None = Field(default=None, ge=0, le=10_000)
    max_size: int | None = Field(default=None, ge=0, le=10_000)
    desired: int | None = Field(default=None, ge=0, le=10_000)


class PolicyOut(BaseModel):
    id: str
    group_id: str
    name: str
    kind: str
    metric: str | None
    target: float | None
    warmup_seconds: int
    tolerance: float
    adjustment_type: str
    steps: list[StepIn]
    min_adjustment_magnitude: int
    cron: str | None
    time_zone: str
    min_size: int | None
    max_size: int | None
    desired: int | None
    next_run_at: datetime | None
    created_at: datetime | None


class ActivityOut(BaseModel):
    id: int
    at: datetime | None
    kind: str
    instance_id: str | None
    description: str
    details: dict[str, Any] | None


class HistoryPointOut(BaseModel):
    at: datetime
    desired: int
    actual: int
    metric: str | None
    value: float | None


class HistoryOut(BaseModel):
    points: list[HistoryPointOut]
