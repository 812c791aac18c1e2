"""The OpenStack stand-in on the wire, without openstacksdk: Keystone's token dance, Nova's microversion headers and
paging links, and error bodies shaped as the API references document them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.contract.clouds.openstack import standin_for
from tests.reference import assert_shaped_like, sample
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
    assert (doc["min_version"], doc["version"]) == ("2.1", "2.104")
    plain = http.get("/compute/v2.1/servers", headers=headers)
    assert plain.headers["OpenStack-API-Version"] == "compute 2.1"
    asked = http.get("/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.40"})
    assert asked.headers["OpenStack-API-Version"] == "compute 2.40"
    legacy = http.get("/compute/v2.1/servers", headers={**headers, "X-OpenStack-Nova-API-Version": "latest"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.104"
    both = {**headers, "OpenStack-API-Version": "volume 3.5, compute 2.60", "X-OpenStack-Nova-API-Version": "2.3"}
    assert http.get("/compute/v2.1/servers", headers=both).headers["OpenStack-API-Version"] == "compute 2.60"
    too_new = http.get("/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.105"})
    # Nova's Fault names no 406: it is a computeFault.
    assert too_new.status_code == 406 and too_new.json()["computeFault"]["code"] == 406
    bad = http.get("/compute/v2.1/servers", headers={**headers, "OpenStack-API-Version": "compute 2.x"})
    assert bad.status_code == 400 and bad.json()["badRequest"]["code"] == 400


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


# --- answers shaped like the API references' samples ----------------------------------------------------------

# What a project member is not shown, which the samples (made as an admin) show.
_ADMIN_ONLY = ("OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name")
_ADMIN_ONLY_V23 = (
    *_ADMIN_ONLY,
    "OS-EXT-SRV-ATTR:hostname",
    "OS-EXT-SRV-ATTR:kernel_id",
    "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:ramdisk_id",
    "OS-EXT-SRV-ATTR:reservation_id",
    "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
    "host_status",
)


def _nova(http: httpx.Client, standin: OpenStackStandIn, version: str) -> dict[str, str]:
    return {"X-Auth-Token": _token(http, standin), "OpenStack-API-Version": f"compute {version}"}


def _running_server(http: httpx.Client, standin: OpenStackStandIn, headers: dict[str, str]) -> str:
    """A running server with a volume attached, in the default group, with metadata: every field has a value."""
    body = {
        "server": {
            "name": "sample",
            "imageRef": standin.image_id,
            "flavorRef": "2",
            "networks": "auto",
            "metadata": {"team": "platform"},
            "availability_zone": "nova",
        }
    }
    server_id = str(http.post("/compute/v2.1/servers", json=body, headers=headers).json()["server"]["id"])
    volume = http.post(f"/volume/v3/{PROJECT_ID}/volumes", json={"volume": {"size": 1}}, headers=headers)
    standin.complete_transitions()
    attach = {"volumeAttachment": {"volumeId": volume.json()["volume"]["id"]}}
    assert http.post(
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments", json=attach, headers=headers
    ).is_success
    standin.complete_transitions()
    return server_id


@pytest.mark.parametrize(
    ("version", "show", "listed", "absent"),
    [
        ("2.1", "nova-server-get-v2.1.json", None, _ADMIN_ONLY),
        ("2.47", "nova-server-get-v2.47.json", None, _ADMIN_ONLY_V23),
        ("2.100", "nova-server-get-v2.100.json", "nova-servers-details-v2.100.json", ()),
    ],
)
def test_servers_are_shaped_as_nova_shows_them_at_each_microversion(
    http: httpx.Client,
    standin: OpenStackStandIn,
    version: str,
    show: str,
    listed: str | None,
    absent: tuple[str, ...],
) -> None:
    headers = _nova(http, standin, version)
    server_id = _running_server(http, standin, headers)
    answer = http.get(f"/compute/v2.1/servers/{server_id}", headers=headers)
    assert answer.headers["OpenStack-API-Version"] == f"compute {version}"
    assert_shaped_like(answer.json(), sample(f"openstack/{show}"), absent=[f"server.{k}" for k in absent])
    flavor = answer.json()["server"]["flavor"]
    if version == "2.1":
        assert flavor["id"] == "2", "up to 2.46 a server names its flavor by id"
    else:
        assert "id" not in flavor and flavor["original_name"] == "m1.small" and flavor["ram"] == 2048
    if listed is not None:
        listing = http.get("/compute/v2.1/servers/detail", headers=headers).json()
        assert_shaped_like(listing, sample(f"openstack/{listed}"), absent=["servers_links"])
        assert "server_groups" not in listing["servers"][0], "the detail listing does not show server groups"
        standin.add_servers(1)  # a second server, so that a page of one links the next
        page = http.get("/compute/v2.1/servers/detail", params={"limit": 1}, headers=headers).json()
        assert_shaped_like(page, sample(f"openstack/{listed}"))


def test_a_server_whose_cell_is_down_is_partial_from_2_69_and_missing_before(
    http: httpx.Client, standin: OpenStackStandIn
) -> None:
    headers = _nova(http, standin, "2.69")
    server_id = _running_server(http, standin, headers)
    standin.cell_down(server_id)
    listed = http.get("/compute/v2.1/servers/detail", headers=headers).json()
    assert_shaped_like(listed, sample("openstack/nova-servers-details-down-cell-v2.69.json"))
    shown = http.get(f"/compute/v2.1/servers/{server_id}", headers=headers).json()
    assert_shaped_like(shown, sample("openstack/nova-server-get-down-cell-v2.69.json"))
    assert shown["server"]["status"] == "UNKNOWN" and "name" not in shown["server"]
    older = _nova(http, standin, "2.68")
    assert http.get("/compute/v2.1/servers/detail", headers=older).json()["servers"] == []
    refused = http.get(f"/compute/v2.1/servers/{server_id}", headers=older)
    assert refused.status_code == 500 and refused.json()["computeFault"]["code"] == 500


def test_flavors_keypairs_attachments_and_versions_are_shaped_as_nova_shows_them(
    http: httpx.Client, standin: OpenStackStandIn
) -> None:
    headers = _nova(http, standin, "2.61")
    assert_shaped_like(
        http.get("/compute/v2.1/flavors/2", headers=headers).json(), sample("openstack/nova-flavor-get-v2.61.json")
    )
    keys = _nova(http, standin, "2.10")
    made = http.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "k1"}}, headers=keys)
    assert made.status_code == 201
    assert_shaped_like(made.json(), sample("openstack/nova-keypair-create-v2.10.json"))
    listed = http.get("/compute/v2.1/os-keypairs", headers=keys).json()
    assert_shaped_like(listed, sample("openstack/nova-keypairs-list-v2.10.json"))
    newest = _nova(http, standin, "2.92")
    refused = http.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "k2"}}, headers=newest)
    assert refused.status_code == 400, "from 2.92 Nova no longer makes key pairs"
    attach_headers = _nova(http, standin, "2.79")
    server_id = _running_server(http, standin, attach_headers)
    volume = http.post(f"/volume/v3/{PROJECT_ID}/volumes", json={"volume": {"size": 1}}, headers=attach_headers)
    standin.complete_transitions()
    attach = {"volumeAttachment": {"volumeId": volume.json()["volume"]["id"]}}
    answer = http.post(f"/compute/v2.1/servers/{server_id}/os-volume_attachments", json=attach, headers=attach_headers)
    assert_shaped_like(answer.json(), sample("openstack/nova-volume-attach-v2.79.json"))
    attachments = http.get(
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments", headers=_nova(http, standin, "2.89")
    )
    assert_shaped_like(attachments.json(), sample("openstack/nova-volume-attachments-v2.89.json"))
    assert len(attachments.json()["volumeAttachments"]) == 2
    assert_shaped_like(http.get("/compute/v2.1").json(), sample("openstack/nova-version-v2.1.json"))


def test_limits_are_shaped_as_nova_shows_them_and_count_the_servers(
    http: httpx.Client, standin: OpenStackStandIn
) -> None:
    oldest, newest = _nova(http, standin, "2.1"), _nova(http, standin, "2.57")
    assert_shaped_like(
        http.get("/compute/v2.1/limits", headers=oldest).json(), sample("openstack/nova-limits-get-v2.1.json")
    )
    empty = http.get("/compute/v2.1/limits", headers=newest).json()
    assert_shaped_like(empty, sample("openstack/nova-limits-get-v2.57.json"))
    assert "maxSecurityGroups" not in empty["limits"]["absolute"]
    _running_server(http, standin, newest)
    absolute = http.get("/compute/v2.1/limits", headers=newest).json()["limits"]["absolute"]
    flavor = next(iter(standin.state.servers.values())).flavor
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (
        1,
        flavor["vcpus"],
        flavor["ram"],
    )
    assert (absolute["maxTotalInstances"], absolute["maxTotalCores"]) == (10, 20)


def test_newer_microversions_refuse_what_older_ones_let_pass(http: httpx.Client, standin: OpenStackStandIn) -> None:
    server_id = _running_server(http, standin, _nova(http, standin, "2.100"))
    volume = http.post(
        f"/volume/v3/{PROJECT_ID}/volumes", json={"volume": {"size": 1}}, headers=_nova(http, standin, "2.100")
    )
    standin.complete_transitions()
    attach = {"volumeAttachment": {"volumeId": volume.json()["volume"]["id"]}}
    answer = http.post(
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments", json=attach, headers=_nova(http, standin, "2.101")
    )
    assert (answer.status_code, answer.content) == (202, b""), "from 2.101 an attachment answers 202 without a body"
    unknown = {"limit": "5", "not-a-filter": "x"}
    assert http.get("/compute/v2.1/servers", params=unknown, headers=_nova(http, standin, "2.74")).status_code == 200
    refused = http.get("/compute/v2.1/servers", params=unknown, headers=_nova(http, standin, "2.75"))
    assert refused.status_code == 400 and refused.json()["badRequest"]["code"] == 400


def test_the_default_group_lets_its_members_in_and_everything_out_as_neutron_makes_it(
    http: httpx.Client, standin: OpenStackStandIn
) -> None:
    headers = {"X-Auth-Token": _token(http, standin)}
    (default,) = http.get("/network/v2.0/security-groups", params={"name": "default"}, headers=headers).json()[
        "security_groups"
    ]
    shown = http.get(f"/network/v2.0/security-groups/{default['id']}", headers=headers).json()
    rule_keys = "security_group.security_group_rules[].remote_address_group_id"  # the rule sample has it
    assert_shaped_like(shown, sample("openstack/neutron-security-group-show.json"), extra=[rule_keys])
    rules = {
        (r["direction"], r["ethertype"], r["remote_group_id"], r["remote_ip_prefix"], r["protocol"])
        for r in shown["security_group"]["security_group_rules"]
    }
    assert rules == {
        ("ingress", "IPv4", default["id"], None, None),
        ("ingress", "IPv6", default["id"], None, None),
        ("egress", "IPv4", None, None, None),
        ("egress", "IPv6", None, None, None),
    }
    made = http.post("/network/v2.0/security-groups", json={"security_group": {"name": "web"}}, headers=headers)
    assert {(r["direction"], r["remote_group_id"]) for r in made.json()["security_group"]["security_group_rules"]} == {
        ("egress", None)
    }, "a group of one's own only lets everything out"
    rule = http.get(
        f"/network/v2.0/security-group-rules/{made.json()['security_group']['security_group_rules'][0]['id']}",
        headers=headers,
    )
    group_sample_keys = ("security_group_rule.tags", "security_group_rule.description")  # the group sample has them
    assert_shaped_like(rule.json(), sample("openstack/neutron-security-group-rule-show.json"), extra=group_sample_keys)


def test_quotas_are_refused_as_each_service_refuses_them(http: httpx.Client, standin: OpenStackStandIn) -> None:
    headers = _nova(http, standin, "2.100")
    standin.quotas.instances = 1
    server = {"server": {"name": "q", "imageRef": standin.image_id, "flavorRef": "1", "networks": "auto"}}
    assert http.post("/compute/v2.1/servers", json=server, headers=headers).status_code == 202
    nova = http.post("/compute/v2.1/servers", json=server, headers=headers)
    assert nova.status_code == 403
    # Nova's one Fault names the body after the status: the 400 sample's shape, named "forbidden".
    assert_shaped_like(nova.json(), {"forbidden": sample("openstack/nova-fault-400.json")["badRequest"]})
    assert nova.json()["forbidden"]["message"].startswith("Quota exceeded for instances: Requested 1")

    standin.quotas.security_group = 1  # the default group is one
    neutron = http.post("/network/v2.0/security-groups", json={"security_group": {"name": "x"}}, headers=headers)
    assert neutron.status_code == 409
    assert_shaped_like(neutron.json(), sample("openstack/neutron-error.json"))
    assert neutron.json()["NeutronError"]["type"] == "OverQuota"

    standin.quotas.snapshots = 0
    volume = http.post(f"/volume/v3/{PROJECT_ID}/volumes", json={"volume": {"size": 1}}, headers=headers).json()
    standin.complete_transitions()
    snapshot = {"snapshot": {"volume_id": volume["volume"]["id"], "name": "s"}}
    cinder = http.post(f"/volume/v3/{PROJECT_ID}/snapshots", json=snapshot, headers=headers)
    assert (cinder.status_code, cinder.headers["Retry-After"]) == (413, "0")
    assert_shaped_like(cinder.json(), sample("openstack/cinder-fault-413.json"))


@pytest.mark.parametrize(("status", "reference"), [(429, "nova-fault-429.json"), (413, "nova-fault-413.json")])
def test_a_rate_limited_request_says_when_to_come_back(
    http: httpx.Client, standin: OpenStackStandIn, status: int, reference: str
) -> None:
    headers = _nova(http, standin, "2.100")
    standin.throttle(1, retry_after=30, status=status)
    refused = http.get("/compute/v2.1/servers", headers=headers)
    assert (refused.status_code, refused.headers["Retry-After"]) == (status, "30")
    assert refused.headers["OpenStack-API-Version"] == "compute 2.100"
    assert_shaped_like(refused.json(), sample(f"openstack/{reference}"))
    assert refused.json()["overLimit"]["retryAfter"] == "30"
    assert http.get("/compute/v2.1/servers", headers=headers).status_code == 200


def test_a_failed_build_leaves_a_fault_shown_as_nova_shows_it(http: httpx.Client, standin: OpenStackStandIn) -> None:
    headers = _nova(http, standin, "2.100")
    standin.fail_builds("No valid host was found. ", details="Traceback (most recent call last): ...")
    standin.fail_builds("Build of instance aborted: Flavor's disk is too small", code=400, details="Traceback ...")
    made = []
    for name in ("no-host", "too-small"):
        body = {"server": {"name": name, "imageRef": standin.image_id, "flavorRef": "1", "networks": "auto"}}
        made.append(http.post("/compute/v2.1/servers", json=body, headers=headers).json()["server"]["id"])
    standin.complete_transitions()
    no_host, too_small = (http.get(f"/compute/v2.1/servers/{i}", headers=headers).json()["server"] for i in made)
    assert no_host["status"] == too_small["status"] == "ERROR"
    assert_shaped_like({"fault": no_host["fault"]}, sample("openstack/nova-server-fault.json"))
    assert "details" not in no_host["fault"], "a 500's details (a traceback) are for admins only"
    assert too_small["fault"]["details"] == "Traceback ..." and too_small["fault"]["code"] == 400
    # Nova shows progress only while a server is on its way somewhere, and a fault only in ERROR or DELETED.
    reference = sample("openstack/nova-server-get-v2.100.json")
    assert_shaped_like({"server": no_host}, reference, absent=["server.progress"], extra=["server.fault"])


def test_a_server_booted_from_a_volume_has_no_image(http: httpx.Client, standin: OpenStackStandIn) -> None:
    headers = _nova(http, standin, "2.100")
    volume = http.post(f"/volume/v3/{PROJECT_ID}/volumes", json={"volume": {"size": 1}}, headers=headers).json()
    standin.complete_transitions()
    boot = {"boot_index": 0, "uuid": volume["volume"]["id"], "source_type": "volume", "destination_type": "volume"}
    body = {"server": {"name": "bfv", "flavorRef": "1", "networks": "auto", "block_device_mapping_v2": [boot]}}
    server_id = http.post("/compute/v2.1/servers", json=body, headers=headers).json()["server"]["id"]
    standin.complete_transitions()
    shown = http.get(f"/compute/v2.1/servers/{server_id}", headers=headers).json()
    assert shown["server"]["image"] == ""
    assert_shaped_like(
        {"server": {k: v for k, v in shown["server"].items() if k != "image"}},
        sample("openstack/nova-server-get-v2.100.json"),
        absent=["server.image"],
    )
    attached = shown["server"]["os-extended-volumes:volumes_attached"]
    assert [a["id"] for a in attached] == [volume["volume"]["id"]]
    root = f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{volume['volume']['id']}"
    assert http.delete(root, headers=headers).status_code == 400, "a root volume cannot be detached"


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
