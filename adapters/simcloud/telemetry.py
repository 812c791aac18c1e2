"""Synthetic monitoring data: one sample of each metric per period (60 simulated seconds unless the account sets
another) while the instance runs.

CPU utilisation is exactly what the instance's load profile says; network and disk traffic follow the CPU with a
little deterministic jitter, so asking twice gives the same figures.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.base import InstanceState, MetricSample
from adapters.simcloud import load
from adapters.simcloud.timeline import Span

PERIOD_SECONDS = 60.0
# At most this many sample times per request (a day of minutes), the most recent ones.
MAX_POINTS = 1440

# metric -> (bytes per 60 s at idle, more bytes per 60 s at 100 % CPU): a shorter period counts its share
_TRAFFIC: dict[str, tuple[float, float]] = {
    "network_in_bytes": (40_000.0, 60_000_000.0),
    "network_out_bytes": (25_000.0, 90_000_000.0),
    "disk_read_bytes": (10_000.0, 30_000_000.0),
    "disk_write_bytes": (50_000.0, 20_000_000.0),
}
METRICS = ("cpu_utilization", *_TRAFFIC)


@dataclass(frozen=True, slots=True)
class LoadChange:
    since: datetime
    profile: load.LoadProfile


def _jitter(instance_id: str, metric: str, index: int) -> float:
    digest = hashlib.sha256(f"{instance_id}:{metric}:{index}".encode()).digest()
    return 0.85 + 0.3 * int.from_bytes(digest[:4], "big") / 2**32


def _active(loads: Sequence[LoadChange], moment: datetime) -> LoadChange:
    current = loads[0]
    for change in loads:
        if change.since <= moment:
            current = change
    return current


def samples(
    *,
    instance_id: str,
    created_at: datetime,
    spans: Sequence[Span],
    loads: Sequence[LoadChange],
    since: datetime,
    now: datetime,
    speedup: float,
    period: float = PERIOD_SECONDS,
) -> list[MetricSample]:
    """Samples taken at `created_at` + k periods, from `since` to `now`, at the times the instance was running.

    `loads` are the instance's load profiles in the order they were set (the first at launch); `speedup` turns
    the `period`'s simulated seconds, and a profile's, into wall-clock time.
    """
    if not loads:
        raise ValueError("an instance always has a load profile")
    step = period / speedup
    last = math.floor((now - created_at).total_seconds() / step)
    first = max(0, math.ceil((since - created_at).total_seconds() / step), last - MAX_POINTS + 1)
    running = [s for s in spans if s.state == InstanceState.RUNNING]
    out: list[MetricSample] = []
    for index in range(first, last + 1):
        moment = created_at + timedelta(seconds=index * step)
        if moment < since or moment > now or not any(s.covers(moment) for s in running):
            continue
        change = _active(loads, moment)
        cpu = load.cpu_at(change.profile, (moment - change.since).total_seconds() * speedup)
        out.append(MetricSample("cpu_utilization", moment, cpu, "percent"))
        for metric, (idle, busy) in _TRAFFIC.items():
            share = period / PERIOD_SECONDS
            value = round((idle + busy * cpu / 100) * share * _jitter(instance_id, metric, index))
            out.append(MetricSample(metric, moment, float(value), "bytes"))
    return out
