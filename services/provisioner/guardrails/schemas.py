"""The request and answer models of guard-rails, approvals and lifetimes (the launch's verdict and `ApprovalOut`
live in `services.provisioner.schemas`, beside the launch's own)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.provisioner.guardrails.domain import MAX_LIFETIME_HOURS, MAX_WARNINGS
from services.provisioner.schemas import TagKey, TagValue

Money = Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 12, max_digits=24, decimal_places=10)]
Count = Annotated[int, Field(ge=0, le=10**6)]


class GuardrailsIn(BaseModel):
    """The project's guard-rails, each optional (null: no limit). A PUT replaces them whole."""

    model_config = ConfigDict(extra="forbid")

    max_instances: Count | None = Field(default=None, description="Instances that have not ended, in any state")
    max_vcpus: Count | None = Field(default=None, description="Their flavors' vCPUs")
    max_monthly_cost: Money | None = Field(
        default=None, description="Their monthly cost (hourly price in force x 730), in `currency`"
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217, for the amounts here")
    required_tags: dict[TagKey, list[TagValue]] = Field(
        default_factory=dict,
        max_length=40,
        description="Tag keys every launch must carry, each with its allowed values (empty: any value)",
    )
    max_lifetime_hours: int | None = Field(
        default=None, ge=1, le=MAX_LIFETIME_HOURS, description="Every instance ends this long after its launch"
    )
    expiry_action: Literal["stop", "terminate"] = Field(default="stop", description="What its end does")
    expiry_warnings: list[Annotated[float, Field(gt=0, le=MAX_LIFETIME_HOURS)]] = Field(
        default_factory=list,
        max_length=MAX_WARNINGS,
        description="Hours before an instance's end at which `instance.expiry_warned` is sent, e.g. [24, 1]",
    )
    approval_threshold: Money | None = Field(
        default=None, description="A launch costing more a month than this waits for an owner's approval"
    )


class GuardrailsOut(BaseModel):
    project_id: str
    version: int = Field(description="0: never set")
    max_instances: int | None
    max_vcpus: int | None
    max_monthly_cost: Decimal | None
    currency: str | None
    required_tags: dict[str, list[str]]
    max_lifetime_hours: int | None
    expiry_action: Literal["stop", "terminate"]
    expiry_warnings: list[float]
    approval_threshold: Decimal | None
    changed_by: str | None
    changed_at: datetime | None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f]+$")


class ExtendIn(BaseModel):
    """The new end of an instance's lifetime: a time, or hours added to its current end."""

    model_config = ConfigDict(extra="forbid")

    expires_at: AwareDatetime | None = None
    hours: float | None = Field(default=None, gt=0, le=MAX_LIFETIME_HOURS)

    @model_validator(mode="after")
    def _one(self) -> ExtendIn:
        if (self.expires_at is None) == (self.hours is None):
            raise ValueError("expires_at or hours, one of them")
        return self
