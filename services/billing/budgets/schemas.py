"""The budget API's models. Amounts are decimal strings in JSON: never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from kernel.events import BudgetScope
from services.billing.budgets.domain import CURRENCIES

ActionName = Literal["notify", "block_launches", "stop_servers"]


def _notify() -> list[ActionName]:
    return ["notify"]


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["project", "tag", "cluster"] = "project"
    tag_key: str | None = Field(default=None, min_length=1, max_length=128)
    tag_value: str | None = Field(default=None, max_length=256)
    cluster_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _complete(self) -> ScopeIn:
        if self.kind == "tag" and self.tag_key is None:
            raise ValueError("a tag scope names tag_key")
        if self.kind == "cluster" and self.cluster_id is None:
            raise ValueError("a cluster scope names cluster_id")
        return self

    def scope(self) -> BudgetScope:
        if self.kind == "tag":
            return BudgetScope(kind="tag", tag_key=self.tag_key, tag_value=self.tag_value)
        if self.kind == "cluster":
            return BudgetScope(kind="cluster", cluster_id=self.cluster_id)
        return BudgetScope(kind="project")


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    percent: int = Field(ge=1, le=1000, description="Of the amount, 1-1000")
    basis: Literal["actual", "forecast"] = "actual"
    actions: list[ActionName] = Field(default_factory=_notify, min_length=1, max_length=3)


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scope: ScopeIn = Field(default_factory=ScopeIn)
    amount: Decimal = Field(gt=0, lt=Decimal(10) ** 15, max_digits=27, decimal_places=6, description="A month's")
    currency: str = Field(description="ISO 4217; spend in other currencies is not counted against it")
    thresholds: list[ThresholdIn] = Field(default_factory=list, max_length=20)

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not an ISO 4217 currency code in use")
        return value


class ThresholdOut(BaseModel):
    percent: int
    basis: Literal["actual", "forecast"]
    actions: list[Literal["notify", "block_launches", "stop_servers"]]
    crossed: bool = Field(description="Crossed in the current month")


class BudgetOut(BaseModel):
    id: str
    name: str
    scope: BudgetScope
    amount: Decimal
    currency: str
    thresholds: list[ThresholdOut]
    period: str = Field(description="The current month, YYYY-MM")
    spent: Decimal = Field(description="What the scope cost this month so far (rated lines, corrections included)")
    forecast: Decimal = Field(description="The month's spend if it goes on as so far")
    launches_blocked: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime


__all__ = ["BudgetIn", "BudgetOut", "ScopeIn", "ThresholdIn", "ThresholdOut"]
