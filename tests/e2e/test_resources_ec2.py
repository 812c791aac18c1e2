"""The same API on EC2 (a local moto server), configured through CLANAVI_PROVISIONER_CLOUDS: launch with a key pair
and a security group, attach a volume, snapshot it, allocate and associate an address; each shows up in the audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.ec2 import Ec2Adapter, Ec2Config
from devstack.moto import MotoServer
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, audit_events, eventually, wait_for_state
from tests.e2e.test_resources import ok, trail, wait_for

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ZONE = "us-east-1a"
FLAVOR = "t3.micro"
IMAGE_NAME = "amzn2-ami-hvm-*-x86_64-gp2"


def account_config(moto: MotoServer, **more: Any) -> dict[str, Any]:
    return {
        "region": REGION,
        "endpoint_url": moto.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        # moto 5 ignores RunInstances' ClientToken; the adapter finds an earlier launch by its tag instead.
        "client_token_lookup": True,
        **more,
    }


@pytest.fixture(scope="module")
async def image_id(moto: MotoServer) -> str:
    """The newest x86_64 Amazon Linux 2 AMI moto describes (moto ships a catalogue of real public AMIs)."""
    adapter = await Ec2Adapter.open("probe", Ec2Config.model_validate(account_config(moto)))
    try:
        found = await adapter.ex_search_images(IMAGE_NAME, owners=("amazon",))
    finally:
        await adapter.close()
    assert found, f"moto describes no image named {IMAGE_NAME}"
    return found[0].id


@pytest.fixture(scope="module")
def platform(servers: Servers, moto: MotoServer, image_id: str) -> Iterator[Platform]:
    aws = {
        "id": "aws",
        "name": "AWS (moto)",
        "driver": "ec2",
        "config": account_config(moto, image_ids=[image_id], instance_types=[FLAVOR]),
    }
    yield from _platform(servers, env={"CLANAVI_PROVISIONER_CLOUDS": json.dumps([aws])}, boot="0.3")


async def test_launch_with_key_pair_and_group_attach_snapshot_and_address_on_ec2(
    platform: Platform, image_id: str
) -> None:
    async with platform.client() as client:
        aws = ok(await client.get("/v1/clouds/aws"))
        assert aws["driver"] == "ec2" and {"key_pairs", "security_groups", "volume_attach", "addresses"} <= set(
            aws["features"]
        )
        assert ZONE in {z["id"] for z in ok(await client.get("/v1/clouds/aws/zones"))["items"]}
        assert image_id in {i["id"] for i in ok(await client.get("/v1/images", params={"cloud_id": "aws"}))["items"]}

        key = ok(await client.post("/v1/key-pairs", json={"cloud_id": "aws", "name": "deploy"}), 201)
        assert key["private_key"] and key["provider_id"] == "deploy"
        group = ok(await client.post("/v1/security-groups", json={"cloud_id": "aws", "name": "web"}), 201)
        assert group["provider_id"].startswith("sg-")
        ssh = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}
        authorized = ok(await client.post(f"/v1/security-groups/{group['id']}/rules", json=ssh))
        assert any(r["protocol"] == "tcp" and r["from_port"] == 22 for r in authorized["rules"])

        launch = {
            "cloud_id": "aws",
            "name": "web-1",
            "image_id": image_id,
            "flavor_id": FLAVOR,
            "key_name": "deploy",
            "security_group_ids": [group["id"]],
            "zone": ZONE,
            "user_data": "#!/bin/sh\necho hi\n",
            "tags": {"team": "web"},
        }
        created = ok(await client.post("/v1/instances", json=launch), 202)
        instance = await wait_for_state(client, created["id"], "running", within=60)
        assert instance["provider_id"].startswith("i-") and instance["zone"] == ZONE

        volume = ok(
            await client.post("/v1/volumes", json={"cloud_id": "aws", "name": "data", "size_gb": 1, "zone": ZONE}), 201
        )
        vpath = f"/v1/volumes/{volume['id']}"
        await wait_for(client, vpath, "available", within=60)
        ok(await client.post(f"{vpath}/actions/attach", json={"instance_id": instance["id"], "device": "/dev/sdf"}))
        attached = await wait_for(client, vpath, "in-use", within=60)
        assert attached["instance_id"] == instance["id"]

        snapshot = ok(await client.post("/v1/snapshots", json={"volume_id": volume["id"], "name": "data-snap"}), 201)
        await wait_for(client, f"/v1/snapshots/{snapshot['id']}", "available", within=60)

        address = ok(await client.post("/v1/addresses", json={"cloud_id": "aws"}), 201)
        assert address["ip"] and address["provider_id"].startswith("eipalloc-")
        associated = ok(
            await client.post(f"/v1/addresses/{address['id']}/actions/associate", json={"instance_id": instance["id"]})
        )
        assert associated["state"] == "associated"

        expected = {
            key["id"]: ["key_pair.created"],
            group["id"]: ["security_group.created", "security_group.rule_authorized"],
            volume["id"]: ["volume.created", "volume.available", "volume.attached"],
            snapshot["id"]: ["snapshot.created", "snapshot.available"],
            address["id"]: ["address.allocated", "address.associated"],
        }
        for resource_id, types in expected.items():
            assert await trail(client, resource_id, len(types)) == types
        requested = await audit_events(client, resource_id=instance["id"], type="instance.requested")
        assert requested[0]["payload"]["key_name"] == "deploy"
        assert requested[0]["payload"]["security_group_ids"] == [group["id"]]
        assert key["private_key"] not in json.dumps(await audit_events(client, type="key_pair.created"))

        # And back: every resource let go, the instance terminated, in the order the cloud needs.
        ok(await client.post(f"/v1/addresses/{address['id']}/actions/disassociate"))
        assert ok(await client.delete(f"/v1/addresses/{address['id']}"))["state"] == "released"
        ok(await client.post(f"{vpath}/actions/detach"))
        await wait_for(client, vpath, "available", within=60)
        assert ok(await client.delete(f"/v1/snapshots/{snapshot['id']}"))["state"] == "deleted"
        assert ok(await client.delete(vpath))["state"] == "deleted"
        ok(await client.delete(f"/v1/instances/{instance['id']}"), 202)
        await wait_for_state(client, instance["id"], "terminated", within=60)

        async def group_deleted() -> dict[str, Any] | None:
            answer = await client.delete(f"/v1/security-groups/{group['id']}")
            return answer.json() if answer.status_code == 200 else None

        assert (await eventually(group_deleted, within=30, what="the group deleted"))["state"] == "deleted"
        assert ok(await client.delete(f"/v1/key-pairs/{key['id']}"))["state"] == "deleted"
        assert (await client.get("/v1/audit/verify")).json()["valid"] is True


async def test_disabling_the_ec2_module_mid_run_refuses_its_accounts_and_loses_nothing(
    platform: Platform, image_id: str
) -> None:
    async with platform.client() as client:
        launch = {"name": "kept", "cloud_id": "aws", "image_id": image_id, "flavor_id": FLAVOR}
        kept = ok(await client.post("/v1/instances", json=launch), 202)["id"]
        await wait_for_state(client, kept, "running")
        try:
            disabled = await client.put("/v1/modules/ec2", json={"enabled": False})
            assert disabled.status_code == 200, disabled.text
            refused = await client.post("/v1/instances", json={**launch, "name": "refused"})
            assert refused.status_code == 409 and refused.json()["code"] == "module_disabled", refused.text
            stop = await client.post(f"/v1/instances/{kept}/actions/stop")
            assert stop.status_code == 409 and stop.json()["code"] == "module_disabled", stop.text
            # Other clouds keep working, and what Clanavi holds about the disabled cloud stays readable.
            sim_launch = {"name": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}
            sim = ok(await client.post("/v1/instances", json=sim_launch), 202)
            await wait_for_state(client, sim["id"], "running")
            assert ok(await client.get(f"/v1/instances/{kept}"))["state"] == "running"
            names = [i["name"] for i in ok(await client.get("/v1/instances", params={"cloud_id": "aws"}))["items"]]
            assert "refused" not in names
        finally:
            enabled = await client.put("/v1/modules/ec2", json={"enabled": True})
            assert enabled.status_code == 200, enabled.text
        ok(await client.post(f"/v1/instances/{kept}/actions/stop"), 202)
        await wait_for_state(client, kept, "stopped")
        types = [
            e["type"] for e in await audit_events(client, type=["module.disabled", "module.enabled"], scope="platform")
        ]
        assert types[-2:] == ["module.disabled", "module.enabled"]
