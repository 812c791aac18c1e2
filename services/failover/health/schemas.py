"""The instance health API's models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class SignalReadings(BaseModel):
    """What the signals last read of the instance."""

    cloud_state: str
    running_since: datetime | None
    last_metric_at: datetime | None
    last_heartbeat_at: datetime | None
    address: str | None
    probe_successes: int = Field(description="Probes passed in a row")
    probe_failures: int = Field(description="Probes failed in a row")
    probed_at: datetime | None


class InstanceHealthOut(BaseModel):
    instance_id: str
    policy_id: str
    health: Literal["healthy", "unhealthy", "unknown"]
    reasons: list[str]
    quarantined: bool
    zone: str | None
    template_version: int | None
    signals: SignalReadings
    unhealthy_since: datetime | None
    remediation: str | None = Field(description="The action taken, while the instance is not healthy again")
    replacement_id: str | None
    remediated_at: datetime | None
    changed_at: datetime
