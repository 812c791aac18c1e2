"""The OpenStack stand-in on the wire, without openstacksdk: Keystone's token dance, Nova's microversion headers and
paging links, and error bodies shaped as the API references document them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.contract.clouds.openstack import standin_for
from tests.standins.openstack import OpenStackStandIn
from tests.standins.openstack.server import PROJECT_ID


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> OpenStackStandIn:
    shared = standin_for(request.config)
    shared.reset()
    return shared


@pytest.fixture
def http(standin: OpenStackStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.base, timeout=5) as client:
        yield client


def _auth(password: str, standin: OpenStackStandIn) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": standin.username, "domain": {"name": "Default"}, "password": password}},
            },
            "scope": {"project": {"name": standin.project_name, "domain": {"name": "Default"}}},
        }
    }


def _token(http: httpx.Client, standin: OpenStackStandIn) -> str:
    answer = http.post("/identity/v3/auth/tokens", json=_auth(standin.password, standin))
    assert answer.status_code == 201
    return answer.headers["X-Subject-Token"]


def test_keystone_issues_a_scoped_token_with_a_catalog(http: httpx.Client, standin: OpenStackStandIn) -> None:
    version = http.get("/identity/v3").json()["version"]
    assert version["id"].startswith("v3") and version["status"] == "stable"
    refused = http.post("/identity/v3/auth/tokens", json=_auth("wrong", standin))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    answer = http.post("/identity/v3/auth/tokens", json=_auth(standin.password, standin))
    assert answer.status_code == 201 and answer.headers["X-Subject-Token"]
    token = answer.json()["token"]
    assert token["project"]["id"] == PROJECT_ID
    urls = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
    assert urls["compute"] == f"{standin.base}/compute/v2.1"
    assert urls["block-storage"] == f"{standin.base}/volume/v3/{PROJECT_ID}"
    assert {"identity", "image", "network"} <= urls.keys()
    assert all(e["region"] == "RegionOne" for s in token["catalog"] for e in s["endpoints"])


def test_nova_needs_a_token_and_negotiates_microversions(http: httpx.Client, standin: OpenStackStandIn) -> None:
    assert http.get("/compute/v2.1/servers").status_code == 401
    headers = {"X-Auth-Token": _token(http, standin)}
    doc = http.get("/compute/v2.1").json()["version"]
    assert (doc["min_version"], doc["version"]) == ("2.1", "2.46")
    plain = http.get("/compute/v2.1/servers", headers=headers)
    assert plain.headers["OpenStack-API-Version"] == "compute 2.1"
    asked = http.get("/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.40"})
    assert asked.headers["OpenStack-API-Version"] == "compute 2.40"
    legacy = http.get("/compute/v2.1/servers", headers={**headers, "X-OpenStack-Nova-API-Version": "latest"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.46"
    too_new = http.get("/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.99"})
    assert too_new.status_code == 406 and too_new.json()["notAcceptable"]["code"] == 406


def test_servers_page_and_errors_look_like_nova_and_neutron(http: httpx.Client, standin: OpenStackStandIn) -> None:
    headers = {"X-Auth-Token": _token(http, standin), "OpenStack-API-Version": "compute 2.46"}
    standin.transition_seconds = 600  # the servers stay in BUILD for this test
    made = []
    for i in range(3):
        body = {"server": {"name": f"s{i}", "imageRef": standin.image_id, "flavorRef": "1", "networks": "auto"}}
        answer = http.post("/compute/v2.1/servers", json=body, headers=headers)
        assert answer.status_code == 202
        made.append(answer.json()["server"]["id"])
    page = http.get("/compute/v2.1/servers/detail", params={"limit": 2}, headers=headers).json()
    assert len(page["servers"]) == 2 and page["servers"][0]["status"] == "BUILD"
    (link,) = page["servers_links"]
    assert link["rel"] == "next" and f"marker={page['servers'][1]['id']}" in link["href"]
    last = http.get(link["href"], headers=headers).json()
    assert len(last["servers"]) == 1 and "servers_links" not in last
    missing = str(uuid.uuid4())
    gone = http.get(f"/compute/v2.1/servers/{missing}", headers=headers)
    assert gone.status_code == 404 and gone.json()["itemNotFound"]["code"] == 404
    no_networks = {"server": {"name": "x", "imageRef": standin.image_id, "flavorRef": "1"}}
    assert http.post("/compute/v2.1/servers", json=no_networks, headers=headers).json()["badRequest"]["code"] == 400
    stop = http.post(f"/compute/v2.1/servers/{made[0]}/action", json={"os-stop": None}, headers=headers)
    assert stop.status_code == 409 and "conflictingRequest" in stop.json()
    assert http.delete(f"/compute/v2.1/servers/{made[0]}", headers=headers).status_code == 204
    assert http.get(f"/compute/v2.1/servers/{made[0]}", headers=headers).status_code == 404
    neutron = http.get(f"/network/v2.0/security-groups/{missing}", headers=headers)
    assert neutron.status_code == 404 and neutron.json()["NeutronError"]["type"] == "SecurityGroupNotFound"
    assert ("DELETE", f"/compute/v2.1/servers/{made[0]}") in standin.requests


def test_metadata_and_descriptions_are_kept_and_filtered_on_as_the_references_show(
    http: httpx.Client, standin: OpenStackStandIn
) -> None:
    """The request samples of the API references (Nova's server-action-create-image.json, Cinder's
    volume-create-request.json and snapshot-create-request.json, Neutron's floating IP create), and the filters the
    references document: a Glance property, Cinder's `metadata` dict, Neutron's `description`."""
    headers = {"X-Auth-Token": _token(http, standin)}
    standin.transition_seconds = 0
    body = {"server": {"name": "src", "imageRef": standin.image_id, "flavorRef": "1", "networks": "auto"}}
    server = http.post("/compute/v2.1/servers", json=body, headers=headers).json()["server"]["id"]
    http.get(f"/compute/v2.1/servers/{server}", headers=headers)  # settles the server
    sample = {"createImage": {"name": "foo-image", "metadata": {"meta_var": "meta_val"}}}
    made = http.post(f"/compute/v2.1/servers/{server}/action", json=sample, headers=headers)
    assert made.status_code == 202
    image_id = made.headers["Location"].rsplit("/", 1)[1]
    assert http.get(f"/image/v2/images/{image_id}", headers=headers).json()["meta_var"] == "meta_val"
    found = http.get("/image/v2/images", params={"meta_var": "meta_val"}, headers=headers).json()["images"]
    assert [i["id"] for i in found] == [image_id]
    assert http.get("/image/v2/images", params={"meta_var": "other"}, headers=headers).json()["images"] == []
    bad = {"createImage": {"name": "x", "metadata": {"bad/key": "v"}}}
    assert http.post(f"/compute/v2.1/servers/{server}/action", json=bad, headers=headers).status_code == 400

    cinder = f"/volume/v3/{PROJECT_ID}"
    volume_sample: dict[str, dict[str, Any]] = {
        "volume": {
            "size": 10,
            "availability_zone": None,
            "source_volid": None,
            "description": None,
            "multiattach": False,
            "snapshot_id": None,
            "backup_id": None,
            "name": None,
            "imageRef": None,
            "volume_type": None,
            "metadata": {},
            "consistencygroup_id": None,
        }
    }
    plain = http.post(f"{cinder}/volumes", json=volume_sample, headers=headers).json()["volume"]
    assert plain["metadata"] == {}
    volume_sample["volume"]["metadata"] = {"key": "v3"}
    tagged = http.post(f"{cinder}/volumes", json=volume_sample, headers=headers).json()["volume"]
    assert tagged["metadata"] == {"key": "v3"}
    # cinderclient sends the dict as Python writes it; JSON's spelling is a dict literal too.
    for spelled in ("{'key': 'v3'}", '{"key": "v3"}'):
        listed = http.get(f"{cinder}/volumes/detail", params={"metadata": spelled}, headers=headers).json()
        assert [v["id"] for v in listed["volumes"]] == [tagged["id"]]
    nothing = http.get(f"{cinder}/volumes/detail", params={"metadata": "key"}, headers=headers).json()
    assert nothing["volumes"] == []

    http.get(f"{cinder}/volumes/{tagged['id']}", headers=headers)  # settles the volume
    snapshot_sample = {
        "snapshot": {
            "name": "snap-001",
            "description": "Daily backup",
            "volume_id": tagged["id"],
            "force": True,
            "metadata": {"key": "v3"},
        }
    }
    snapshot = http.post(f"{cinder}/snapshots", json=snapshot_sample, headers=headers).json()["snapshot"]
    assert snapshot["metadata"] == {"key": "v3"}
    by_volume = http.get(f"{cinder}/snapshots/detail", params={"volume_id": plain["id"]}, headers=headers).json()
    assert by_volume["snapshots"] == []

    floating = {"floatingip": {"floating_network_id": standin.PUBLIC_NET, "description": "floating ip for testing"}}
    fip = http.post("/network/v2.0/floatingips", json=floating, headers=headers).json()["floatingip"]
    assert fip["description"] == "floating ip for testing"
    listed_fips = http.get(
        "/network/v2.0/floatingips", params={"description": "floating ip for testing"}, headers=headers
    ).json()["floatingips"]
    assert [f["id"] for f in listed_fips] == [fip["id"]]
    assert (
        http.get("/network/v2.0/floatingips", params={"description": "x"}, headers=headers).json()["floatingips"] == []
    )
