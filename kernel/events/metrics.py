"""v1 metric samples as events: the provisioner's samples of its clouds' metrics and what agents and applications push
through `POST /v1/metrics`, in batches. The scaler decides as each batch arrives; failover and alerts read them too."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.events.envelope import EventPayload

# The metrics every cloud's samples may hold (units: percent, bytes).
CLOUD_METRICS = frozenset(
    {"cpu_utilization", "network_in_bytes", "network_out_bytes", "disk_read_bytes", "disk_write_bytes"}
)
# The most samples one event holds: a larger batch travels as several events.
MAX_BATCH = 1000


class MetricPoint(BaseModel):
    """One sample: of an instance's metric, or (no `instance_id`) of something else its labels name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z_][a-zA-Z0-9_.:]*$")
    value: float
    unit: str = Field(default="", max_length=32)
    at: datetime
    instance_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class MetricsSampled(EventPayload):
    """A batch of samples of one project: sampled from its clouds (`cloud`) or pushed by an agent (`agent`)."""

    TYPE = "metrics.sampled"
    source: Literal["cloud", "agent"]
    samples: list[MetricPoint] = Field(max_length=MAX_BATCH)
