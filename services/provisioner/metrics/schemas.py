"""The body of `POST /v1/metrics` and its answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kernel.events.metrics import MAX_BATCH

LabelKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z_][a-zA-Z0-9_.:-]*$")]
LabelValue = Annotated[str, Field(max_length=256, pattern=r"^[^\x00-\x1f]*$")]


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_.:]*$",
        description="The metric's name; a cloud metric's (cpu_utilization, ...) is allowed",
    )
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(default="", max_length=32)
    at: AwareDatetime | None = Field(
        default=None, description="When it was measured: at most 5 minutes ahead, at most 1 hour old; default now"
    )
    instance_id: str | None = Field(
        default=None, max_length=64, description="One of the project's instances; null: a sample of something else"
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=20)


class MetricsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: list[MetricIn] = Field(min_length=1, max_length=MAX_BATCH)


class MetricsAccepted(BaseModel):
    accepted: int = Field(description="How many samples were published")


__all__ = ["MetricIn", "MetricsAccepted", "MetricsIn"]
