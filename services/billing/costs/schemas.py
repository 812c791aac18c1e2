"""The cost API's models. Amounts are decimal strings in JSON: never floats."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CostGroupOut(BaseModel):
    group: dict[str, str | None] = Field(
        description="The values this sum is for, by grouping (`day`, `cloud`, ..., `tag:<key>`); null: none"
    )
    currency: str = Field(description="ISO 4217; lines in different currencies are never summed together")
    cost: Decimal = Field(description="BilledCost summed (Correction lines included), a decimal string")
    consumed_seconds: Decimal = Field(description="ConsumedQuantity summed: the seconds billed")
    lines: int
    start: AwareDatetime = Field(description="The earliest ChargePeriodStart of the lines summed")
    end: AwareDatetime = Field(description="The latest ChargePeriodEnd of the lines summed (exclusive)")


class RerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime = Field(description="Lines of usage from this moment (inclusive)")
    end: AwareDatetime = Field(description="... to this one (exclusive)")


class RerateOut(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    lines: int = Field(description="How many Correction lines the re-rating wrote (0: the period was rated right)")


__all__ = ["CostGroupOut", "RerateIn", "RerateOut"]
