"""The instance refresh API's models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(min_length=1, max_length=64, description="The health policy whose target is refreshed")
    template_version: int = Field(ge=1, description="The version the members are replaced with")
    min_healthy_percent: int = Field(default=90, ge=0, le=100)
    checkpoint_percent: int | None = Field(
        default=None, ge=1, le=99, description="Pause once this share is replaced, until `POST .../continue`"
    )


class RefreshOut(BaseModel):
    id: str
    policy_id: str
    template_id: str | None
    template_version: int
    min_healthy_percent: int
    checkpoint_percent: int | None
    state: Literal["running", "paused", "completed", "rolled_back", "cancelled"]
    reason: str
    replacing: dict[str, str] = Field(description="Old instance id -> its replacement, not yet healthy")
    replaced: dict[str, str] = Field(description="Old instance id -> its replacement, healthy")
    created_at: datetime
    updated_at: datetime
