"""Metrics: every sample an adapter answers speaks the contract's names, units and times.

Whether a running instance has samples yet is the cloud's business (real CloudWatch lags by minutes; moto's records
nothing unless told; SimCloud makes them up), and the suite cannot know it from a declaration, so an empty answer
passes here and each adapter's own tests show that it produces samples. What can be checked everywhere is checked:
the form of every sample, the `since` bound, and that the answer is about the instance asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import Feature, MetricSample
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import Cleanup, running_instance

# name -> unit, as `MetricSample` documents them.
KNOWN = {
    "cpu_utilization": "percent",
    "network_in_bytes": "bytes",
    "network_out_bytes": "bytes",
    "disk_read_bytes": "bytes",
    "disk_write_bytes": "bytes",
}
# How far a sample may lie ahead of this machine's clock (a remote cloud's clock differs a little).
CLOCK_SKEW = timedelta(minutes=1)


def _assert_well_formed(samples: Sequence[MetricSample], since: datetime) -> None:
    assert isinstance(samples, Sequence), f"get_metrics answered a {type(samples).__name__}"
    now = datetime.now(UTC)
    for sample in samples:
        assert isinstance(sample, MetricSample), f"not a MetricSample: {sample!r}"
        assert sample.name in KNOWN, f"unknown metric {sample.name!r}"
        assert sample.unit == KNOWN[sample.name], f"{sample.name} in {sample.unit!r}, not {KNOWN[sample.name]!r}"
        assert sample.timestamp.tzinfo is not None, f"a naive timestamp: {sample!r}"
        assert since <= sample.timestamp <= now + CLOCK_SKEW, f"{sample.timestamp} is outside [{since}, {now}]"
        assert math.isfinite(sample.value) and sample.value >= 0, f"{sample.name} = {sample.value}"
        if sample.name == "cpu_utilization":
            assert sample.value <= 100, f"cpu_utilization = {sample.value} %"


@pytest.mark.needs(Feature.INSTANCES, Feature.METRICS)
async def test_metrics_of_a_running_instance_are_well_formed(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    since = datetime.now(UTC) - timedelta(hours=1)
    samples = await cloud.adapter.get_metrics(instance.id, since)
    _assert_well_formed(samples, since)

    if samples:  # the `since` bound, checked against the cloud's own times
        middle = sorted(s.timestamp for s in samples)[len(samples) // 2]
        later = await cloud.adapter.get_metrics(instance.id, middle)
        _assert_well_formed(later, middle)

    ahead = datetime.now(UTC) + timedelta(hours=1)
    assert list(await cloud.adapter.get_metrics(instance.id, ahead)) == [], "samples from the future"
