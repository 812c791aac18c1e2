"""Inventory sync on EC2 (a local moto server) through the gateway: an instance created with aioboto3 (boto3's async
client), outside Clanavi, is adopted by `POST /v1/clouds/aws/sync`, listed as discovered, and its
`instance.discovered` event reaches the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aioboto3
import pytest

from devstack.moto import MotoServer
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, audit_events, eventually
from tests.e2e.test_resources import ok

pytestmark = pytest.mark.e2e

REGION = "us-east-1"


@pytest.fixture(scope="module")
def platform(servers: Servers, moto: MotoServer) -> Iterator[Platform]:
    aws = {
        "id": "aws",
        "name": "AWS (moto)",
        "driver": "ec2",
        "config": {"region": REGION, "endpoint_url": moto.url},
        "credentials": {"access_key_id": "testing", "secret_access_key": "testing"},
    }
    # Only the syncs the test asks for.
    env = {"CLANAVI_PROVISIONER_CLOUDS": json.dumps([aws]), "CLANAVI_PROVISIONER_SYNC_INTERVAL_SECONDS": "0"}
    yield from _platform(servers, env=env, boot="0.3")


async def run_outside(moto: MotoServer, name: str) -> str:
    """An instance launched with (aio)boto3 straight at the cloud, as someone using AWS's own tools would."""
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    async with session.client("ec2", endpoint_url=moto.url) as ec2:
        image = (await ec2.describe_images(Owners=["amazon"]))["Images"][0]["ImageId"]
        answer = await ec2.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}, {"Key": "team", "Value": "data"}]}
            ],
        )
    return answer["Instances"][0]["InstanceId"]


async def test_an_instance_made_outside_clanavi_is_adopted_after_a_sync(platform: Platform, moto: MotoServer) -> None:
    provider_id = await run_outside(moto, "made-outside")
    async with platform.client() as client:
        params = {"discovered": "true", "cloud_id": "aws"}
        assert ok(await client.get("/v1/instances", params=params))["items"] == []

        run = ok(await client.post("/v1/clouds/aws/sync"), 202)
        assert (run["cloud_id"], run["trigger"]) == ("aws", "manual")

        async def finished() -> Any:
            got = ok(await client.get(f"/v1/clouds/aws/syncs/{run['id']}"))
            return got if got["status"] != "running" else None

        done = await eventually(finished, within=60, what="the sync to finish")
        assert (done["status"], done["error"]) == ("succeeded", None)
        assert done["adopted"] == 1 and done["list_calls"] >= 1

        [instance] = ok(await client.get("/v1/instances", params=params))["items"]
        assert (instance["provider_id"], instance["name"], instance["state"], instance["discovered"]) == (
            provider_id,
            "made-outside",
            "running",
            True,
        )
        assert instance["tags"] == {"team": "data"}
        assert [r["id"] for r in ok(await client.get("/v1/clouds/aws/syncs"))["items"]] == [run["id"]]

        async def discovered() -> Any:
            found = await audit_events(client, type="instance.discovered", resource_id=instance["id"])
            return found or None

        [event] = await eventually(discovered, within=30, what="instance.discovered in the audit")
        assert event["payload"]["provider_id"] == provider_id and event["payload"]["sync_id"] == run["id"]

        async def synced() -> Any:
            return await audit_events(client, type="cloud.synced", resource_id="aws") or None

        [summary] = await eventually(synced, within=30, what="cloud.synced in the audit")
        assert summary["payload"]["adopted"] == 1
