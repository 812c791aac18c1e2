"""Scaling policies and what each proposes: target tracking (the Kubernetes HPA's rule), step adjustments (AWS's
three adjustment types with a minimum magnitude) and scheduled actions (cron in a time zone). No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.scaler.policies.cron import parse_cron, time_zone

PolicyKind = Literal["target_tracking", "step", "scheduled"]
AdjustmentType = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]

DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True, slots=True)
class Step:
    """Applies while the metric is in [lower, upper) (None: unbounded on that side)."""

    adjustment: int
    lower: float | None = None
    upper: float | None = None

    def holds(self, value: float) -> bool:
        return (self.lower is None or value >= self.lower) and (self.upper is None or value < self.upper)


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    group_id: str
    project_id: str
    name: str
    kind: PolicyKind
    metric: str | None = None
    # target tracking
    target: float | None = None
    warmup_seconds: int = 0
    tolerance: float = DEFAULT_TOLERANCE
    # step
    adjustment_type: AdjustmentType = "ChangeInCapacity"
    steps: tuple[Step, ...] = ()
    min_adjustment_magnitude: int = 0
    # scheduled
    cron: str | None = None
    time_zone: str = "UTC"
    min_size: int | None = None
    max_size: int | None = None
    desired: int | None = None
    next_run_at: datetime | None = None
    created_at: datetime | None = None

    def next_run(self, after: datetime) -> datetime | None:
        assert self.cron is not None
        return parse_cron(self.cron).next_after(after, time_zone(self.time_zone))


def target_tracking(current: int, value: float, target: float, tolerance: float) -> int:
    """The HPA's proposal: ceil(current x value / target), or `current` while the ratio is within the tolerance."""
    ratio = value / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    # Rounded first so that 3 x 80 / 60 (4.000000000000001 in floating point) proposes 4, not 5.
    return math.ceil(round(current * ratio, 9))


def step_adjustment(
    desired: int, value: float, steps: tuple[Step, ...], kind: AdjustmentType, min_magnitude: int
) -> int | None:
    """The capacity a step policy proposes at `value`, or None when no step holds."""
    step = next((s for s in steps if s.holds(value)), None)
    if step is None:
        return None
    if kind == "ExactCapacity":
        return step.adjustment
    if kind == "ChangeInCapacity":
        return desired + step.adjustment
    change = math.trunc(desired * step.adjustment / 100)
    if change == 0 and step.adjustment != 0:
        change = 1 if step.adjustment > 0 else -1
    if abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return desired + change


__all__ = ["DEFAULT_TOLERANCE", "AdjustmentType", "Policy", "PolicyKind", "Step", "step_adjustment", "target_tracking"]
