"""The EC2 adapter's metrics: moto records no AWS/EC2 metrics of its own, so the test puts data points into moto's
CloudWatch itself and reads them back through the adapter, per period, in the contract's names and units."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aioboto3
import pytest

from adapters.base import CloudNotFound, MetricSample
from adapters.ec2 import Ec2Adapter
from tests.contract.clouds.ec2 import REGION, fresh_adapter, launch_spec

pytestmark = pytest.mark.integration


@pytest.fixture
async def ec2(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    adapter = await fresh_adapter(request.config, metrics_period_seconds=60)
    yield adapter
    await adapter.close()


async def put(ec2: Ec2Adapter, instance_id: str, metric: str, unit: str, points: list[tuple[datetime, float]]) -> None:
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    async with session.client("cloudwatch", endpoint_url=ec2.config.endpoint_url) as cloudwatch:
        await cloudwatch.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    "Timestamp": stamp,
                    "Value": value,
                    "Unit": unit,  # type: ignore[typeddict-item]
                }
                for stamp, value in points
            ],
        )


async def test_samples_put_into_cloudwatch_read_back_per_period(ec2: Ec2Adapter) -> None:
    instance = await ec2.launch_instance(launch_spec(ec2))
    neighbour = await ec2.launch_instance(launch_spec(ec2))
    since = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    minute = timedelta(minutes=1)
    # Two CPU readings in the second minute after `since`, one in the seventh.
    await put(
        ec2,
        instance.id,
        "CPUUtilization",
        "Percent",
        [(since + timedelta(seconds=70), 20.0), (since + timedelta(seconds=100), 40.0), (since + 6.5 * minute, 75.0)],
    )
    await put(ec2, instance.id, "NetworkIn", "Bytes", [(since + 2.1 * minute, 1000.0), (since + 2.6 * minute, 500.0)])
    await put(ec2, instance.id, "DiskWriteBytes", "Bytes", [(since + 3.5 * minute, 4096.0)])
    await put(ec2, neighbour.id, "CPUUtilization", "Percent", [(since + 1.5 * minute, 99.0)])

    samples = await ec2.get_metrics(instance.id, since)
    assert samples == [
        # CPU is the average of each period, bytes are its sum.
        MetricSample("cpu_utilization", since + minute, 30.0, "percent"),
        MetricSample("network_in_bytes", since + 2 * minute, 1500.0, "bytes"),
        MetricSample("disk_write_bytes", since + 3 * minute, 4096.0, "bytes"),
        MetricSample("cpu_utilization", since + 6 * minute, 75.0, "percent"),
    ]
    assert all(s.timestamp.tzinfo is not None for s in samples)

    later = await ec2.get_metrics(instance.id, since + 4 * minute)
    assert [(s.name, s.value) for s in later] == [("cpu_utilization", 75.0)]
    naive = await ec2.get_metrics(instance.id, (since + 4 * minute).replace(tzinfo=None))
    assert naive == later, "a naive `since` is read as UTC"
    assert list(await ec2.get_metrics(instance.id, datetime.now(UTC) + timedelta(hours=1))) == []
    assert [s.value for s in await ec2.get_metrics(neighbour.id, since)] == [99.0]


async def test_metrics_of_an_unknown_instance_are_not_found(ec2: Ec2Adapter) -> None:
    with pytest.raises(CloudNotFound):
        await ec2.get_metrics("i-0123456789abcdef0", datetime.now(UTC) - timedelta(hours=1))
