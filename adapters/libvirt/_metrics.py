"""Metrics from libvirt's counters: a domain's CPU time and its NIC and disk byte counts only ever grow, so a rate
is the difference of two readings over the time between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from adapters.base import MetricSample


@dataclass(frozen=True, slots=True)
class Reading:
    """Counters of one running domain, read at one moment."""

    at: datetime
    # time.monotonic() at the reading, for intervals that a clock change cannot skew.
    monotonic: float
    # Since the domain's QEMU process started; a restart sets them back to zero.
    cpu_time_ns: int
    vcpus: int
    rx_bytes: int
    tx_bytes: int
    read_bytes: int
    write_bytes: int


def samples(before: Reading, after: Reading) -> Sequence[MetricSample]:
    """The samples for the interval between two readings, stamped at its end; none if a counter went back (the
    domain restarted in between) or no time passed."""
    seconds = after.monotonic - before.monotonic
    counters = ("cpu_time_ns", "rx_bytes", "tx_bytes", "read_bytes", "write_bytes")
    if seconds <= 0 or any(getattr(after, c) < getattr(before, c) for c in counters):
        return []
    cpu_seconds = (after.cpu_time_ns - before.cpu_time_ns) / 1e9
    # Percent of the CPU the domain may use (all its vCPUs), as clouds report it.
    utilisation = min(100.0, 100.0 * cpu_seconds / (seconds * max(1, after.vcpus)))
    at = after.at
    return [
        MetricSample("cpu_utilization", at, utilisation, "percent"),
        MetricSample("network_in_bytes", at, float(after.rx_bytes - before.rx_bytes), "bytes"),
        MetricSample("network_out_bytes", at, float(after.tx_bytes - before.tx_bytes), "bytes"),
        MetricSample("disk_read_bytes", at, float(after.read_bytes - before.read_bytes), "bytes"),
        MetricSample("disk_write_bytes", at, float(after.write_bytes - before.write_bytes), "bytes"),
    ]
