"""The alerts' API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class AlertOut(BaseModel):
    id: str
    rule_id: str
    rule_name: str
    kind: Literal["threshold", "no_data", "event_rate", "budget"]
    severity: str
    state: Literal["pending", "firing", "resolved"]
    silenced: bool
    inhibited: bool
    labels: dict[str, str]
    value: float | None
    summary: str
    started_at: datetime
    firing_since: datetime | None
    resolved_at: datetime | None
    updated_at: datetime
