"""Cloud accounts through the gateway, on EC2 (a local moto server): an account added with distinctive credentials
launches an instance, and those credentials appear in no answer, no service log and no audit event; an account that
cannot connect is refused with nothing stored; removing an account is refused while an instance lives in it and
allowed with force; another project does not see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.ec2 import Ec2Adapter, Ec2Config
from devstack import free_port
from devstack.moto import MotoServer
from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import INTERNAL_KEY, Platform, audit_events, eventually, wait_for_state

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
FLAVOR = "t3.micro"
IMAGE_NAME = "amzn2-ami-hvm-*-x86_64-gp2"
# moto accepts any keys: these are chosen to be found wherever they leak.
ACCESS_KEY_ID = "AKIAE2ECLOUDACCT7Q4Z"
SECRET_ACCESS_KEY = "e2e-Secret/Access+Key-9f3c1b7d2e"
NEW_SECRET_ACCESS_KEY = "e2e-Rotated/Secret+Key-4a8e0c6b"
OPENSTACK_PASSWORD = "e2e-openstack-Password-51d7"
CREDENTIAL_VALUES = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, NEW_SECRET_ACCESS_KEY, OPENSTACK_PASSWORD)


@pytest.fixture(scope="module")
async def image_id(moto: MotoServer) -> str:
    config = Ec2Config.model_validate(
        {"region": REGION, "endpoint_url": moto.url, "access_key_id": "probe", "secret_access_key": "probe"}
    )
    adapter = await Ec2Adapter.open("probe", config)
    try:
        found = await adapter.ex_search_images(IMAGE_NAME, owners=("amazon",))
    finally:
        await adapter.close()
    assert found, f"moto describes no image named {IMAGE_NAME}"
    return found[0].id


@pytest.fixture(scope="module")
def platform(servers: Servers, moto: MotoServer) -> Iterator[Platform]:
    yield from _platform(servers, boot="0.3")


class Recorder:
    """A gateway client that keeps every answer it received."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.answers: list[str] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = await self.client.request(method, path, **kwargs)
        self.answers.append(f"{method} {path} -> {answer.status_code} {answer.headers} {answer.text}")
        return answer

    async def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        answer = await self.request(method, path, **kwargs)
        assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None


def leaks(text: str) -> list[str]:
    return [value for value in CREDENTIAL_VALUES if value in text]


async def test_credentials_never_leave_the_provisioner_and_accounts_live_in_their_project(
    platform: Platform, moto: MotoServer, image_id: str
) -> None:
    config = {
        "region": REGION,
        "endpoint_url": moto.url,
        "client_token_lookup": True,
        "image_ids": [image_id],
        "instance_types": [FLAVOR],
    }
    credentials = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY}
    async with platform.client() as raw:
        api = Recorder(raw)

        # Cannot connect: refused, nothing stored.
        closed = f"http://127.0.0.1:{free_port()}"
        for body in (
            {
                "name": "keystone",
                "driver": "openstack",
                "config": {"auth_url": f"{closed}/v3", "username": "admin", "project_name": "admin"},
                "credentials": {"password": OPENSTACK_PASSWORD},
            },
            {
                "name": "aws-closed",
                "driver": "ec2",
                "config": {**config, "endpoint_url": closed},
                "credentials": credentials,
            },
        ):
            refused = await api.request("POST", "/v1/clouds", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "cloud_connection_failed"
        secret_in_config = await api.request(
            "POST", "/v1/clouds", json={"name": "aws", "driver": "ec2", "config": {**config, **credentials}}
        )
        assert secret_in_config.status_code == 422
        assert {e["location"] for e in secret_in_config.json()["errors"]} == {
            "body.config.access_key_id",
            "body.config.secret_access_key",
        }
        assert [c["id"] for c in (await api.expect(200, "GET", "/v1/clouds"))["items"]] == ["sim"]

        cloud = await api.expect(
            201,
            "POST",
            "/v1/clouds",
            json={"name": "aws", "driver": "ec2", "config": config, "credentials": credentials},
        )
        cid = cloud["id"]
        assert cloud["credential_fields"] == ["access_key_id", "secret_access_key"] and cloud["config"] == config
        assert {c["id"] for c in (await api.expect(200, "GET", "/v1/clouds"))["items"]} == {"sim", cid}
        await api.expect(200, "GET", f"/v1/clouds/{cid}")
        assert (await api.expect(200, "GET", f"/v1/clouds/{cid}/zones"))["items"]
        images = await api.expect(200, "GET", "/v1/images", params={"cloud_id": cid})
        assert image_id in {i["id"] for i in images["items"]}

        launch = {"cloud_id": cid, "name": "web-1", "image_id": image_id, "flavor_id": FLAVOR}
        instance = await api.expect(202, "POST", "/v1/instances", json=launch)
        await wait_for_state(raw, instance["id"], "running", within=60)

        in_use = await api.request("DELETE", f"/v1/clouds/{cid}")
        assert in_use.status_code == 409, in_use.text
        assert in_use.json()["code"] == "cloud_in_use" and in_use.json()["in_use"] == {"instances": 1}

        # New credentials are tested, then used: the next call connects with them.
        rotated = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": NEW_SECRET_ACCESS_KEY}
        changed = await api.expect(200, "PATCH", f"/v1/clouds/{cid}", json={"credentials": rotated})
        assert changed["credential_fields"] == ["access_key_id", "secret_access_key"]
        assert (await api.expect(200, "GET", f"/v1/clouds/{cid}/regions"))["items"]

        # Another project: the account does not exist for it (signed as the gateway would, straight to the service).
        beta = IdentitySigner(INTERNAL_KEY.encode()).sign(Identity("user:beta", "beta", Role.OWNER))
        provisioner_url = f"http://127.0.0.1:{platform.processes['provisioner'].port}"
        async with httpx.AsyncClient(base_url=provisioner_url, headers={IDENTITY_HEADER: beta}, timeout=30) as other:
            for path in (f"/v1/clouds/{cid}", f"/v1/clouds/{cid}/zones"):
                answer = await other.get(path)
                assert answer.status_code == 404 and answer.json()["detail"] == f"Cloud {cid} does not exist."
            assert cid not in (await other.get("/v1/clouds")).text
            foreign = await other.post("/v1/instances", json={**launch, "name": "theirs"})
            assert foreign.status_code == 422 and foreign.json()["detail"] == f"Cloud {cid} does not exist."
            assert (await other.delete(f"/v1/clouds/{cid}", params={"force": "true"})).status_code == 404

        # With force the account goes, and Clanavi's record of the instance with it (the cloud keeps the instance).
        await api.expect(204, "DELETE", f"/v1/clouds/{cid}", params={"force": "true"})
        assert (await api.request("GET", f"/v1/clouds/{cid}")).status_code == 404
        assert (await api.request("GET", f"/v1/instances/{instance['id']}")).status_code == 404

        removed = await eventually(
            lambda: _events_or_none(raw, type="cloud.removed", resource_id=cid), within=30, what="cloud.removed"
        )
        assert removed[0]["payload"]["forgotten"] == {"instances": 1}
        types = [e["type"] for e in await audit_events(raw, resource_id=cid)]
        assert types == ["cloud.added", "cloud.updated", "cloud.removed"]
        everything = await audit_events(raw)

    assert not leaks("\n".join(api.answers)), "a credential in an API answer"
    assert not leaks(json.dumps(everything)), "a credential in the audit trail"
    logs = sorted(platform.root.glob("*.log"))
    assert {p.stem for p in logs} >= {"gateway", "provisioner", "audit"}
    for log in logs:
        assert not leaks(log.read_text(errors="replace")), f"a credential in {log.name}"


async def _events_or_none(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]] | None:
    return await audit_events(client, **params) or None
