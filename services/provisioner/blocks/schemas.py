"""The answer model of a launch block."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class BlockScopeOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["project", "tag", "cluster"] = Field(
        description="project: every launch; tag: launches whose tags hold tag_key=tag_value; cluster: launches into "
        "cluster_id"
    )
    tag_key: str | None = None
    tag_value: str | None = None
    cluster_id: str | None = None


class LaunchBlockOut(BaseModel):
    """A budget that blocks new launches within its scope now: launches there answer 409 `budget_exceeded`."""

    model_config = ConfigDict(extra="forbid")

    budget_id: str
    budget_name: str
    scope: BlockScopeOut
    period: str = Field(description="The budget's month, 2026-12")
    reason: str = Field(description="Why billing blocked launches (the spend and the budget's amount)")
    blocked_at: AwareDatetime = Field(description="When billing blocked them")
    unblock: str = Field(description="How to launch again")


__all__ = ["BlockScopeOut", "LaunchBlockOut"]
