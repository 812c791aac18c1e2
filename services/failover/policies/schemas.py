"""The health policies' API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScalingGroupTarget(_In):
    kind: Literal["scaling_group"]
    scaling_group_id: Id


class ClusterRoleTarget(_In):
    kind: Literal["cluster_role"]
    cluster_id: Id
    role: str = Field(min_length=1, max_length=20)


class TagTarget(_In):
    kind: Literal["tag"]
    key: str = Field(min_length=1, max_length=128)
    value: str = Field(max_length=256)


Target = Annotated[ScalingGroupTarget | ClusterRoleTarget | TagTarget, Field(discriminator="kind")]


class ProbeIn(_In):
    """A probe the service runs against the instance's address (its public address, as the provisioner's events
    told it)."""

    kind: Literal["http", "tcp"]
    port: int = Field(ge=1, le=65535)
    path: str = Field(default="/", pattern=r"^/[^\s]*$", max_length=500, description="HTTP only; 2xx and 3xx pass")
    interval_seconds: float = Field(default=10.0, ge=0.2, le=3600)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    healthy_threshold: int = Field(default=2, ge=1, le=10)
    unhealthy_threshold: int = Field(default=3, ge=1, le=10)

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout_within_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval_seconds")
        if interval is not None and value > interval:
            raise ValueError("must not exceed interval_seconds")
        return value


class SignalsIn(_In):
    cloud_state: Literal[True] = Field(
        default=True, description="The cloud's state always counts: an instance in `error` is unhealthy at once."
    )
    metrics_quiet_seconds: int | None = Field(
        default=None, ge=5, le=86_400, description="Unhealthy when no metric sample arrived for this long."
    )
    heartbeat_seconds: int | None = Field(
        default=None, ge=5, le=86_400, description="Unhealthy when the agent pushed no metric for this long."
    )
    probe: ProbeIn | None = None


class BreakerIn(_In):
    max_unhealthy_percent: int = Field(default=50, ge=1, le=100)
    zone_max_unhealthy_percent: int | None = Field(default=None, ge=1, le=100)
    window_seconds: int = Field(default=300, ge=10, le=86_400)


class HealthPolicyIn(_In):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    target: Target
    signals: SignalsIn = Field(default_factory=SignalsIn)
    grace_seconds: int = Field(default=300, ge=0, le=86_400)
    action: Literal["replace", "reboot", "promote_standby", "quarantine"] = "replace"
    address_id: Id | None = Field(
        default=None,
        description="promote_standby: the public address moved to a healthy standby when the member holding it "
        "fails (any address a member holds when not given).",
    )
    breaker: BreakerIn = Field(default_factory=BreakerIn)

    @field_validator("address_id")
    @classmethod
    def _address_for_promotion(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("action") != "promote_standby":
            raise ValueError("only for the action promote_standby")
        return value


class ProbeOut(BaseModel):
    kind: Literal["http", "tcp"]
    port: int
    path: str
    interval_seconds: float
    timeout_seconds: float
    healthy_threshold: int
    unhealthy_threshold: int


class SignalsOut(BaseModel):
    cloud_state: bool
    metrics_quiet_seconds: int | None
    heartbeat_seconds: int | None
    probe: ProbeOut | None


class BreakerOut(BaseModel):
    max_unhealthy_percent: int
    zone_max_unhealthy_percent: int | None
    window_seconds: int
    open: bool
    reason: str


class TargetOut(BaseModel):
    kind: Literal["scaling_group", "cluster_role", "tag"]
    scaling_group_id: str | None = None
    cluster_id: str | None = None
    role: str | None = None
    key: str | None = None
    value: str | None = None


class HealthPolicyOut(BaseModel):
    id: str
    name: str
    target: TargetOut
    signals: SignalsOut
    grace_seconds: int
    action: Literal["replace", "reboot", "promote_standby", "quarantine"]
    address_id: str | None
    breaker: BreakerOut
    created_at: datetime
    updated_at: datetime
