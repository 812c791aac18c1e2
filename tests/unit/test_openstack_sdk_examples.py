"""Real bodies this repository does not hold, read through the OpenStack adapter's mapping.

openstacksdk ships its unit tests inside the installed package; their module-level examples (`EXAMPLE`, `VOLUME`,
`SNAPSHOT`, ...) were written from real API answers. They are read from the installed files at run time (never copied
here), and without importing those test modules, which need test-only packages: each module's constant assignments
are evaluated from its syntax tree. Each body is read as the SDK reads it (`Resource.existing(**body)`, what its
listings do) and, where the adapter reads Nova's JSON itself, as that JSON too.
"""

from __future__ import annotations

import ast
import importlib.resources
from datetime import UTC, datetime
from typing import Any

import pytest
from openstack.block_storage.v3.snapshot import Snapshot as SdkSnapshot
from openstack.block_storage.v3.volume import Volume as SdkVolume
from openstack.compute.v2.flavor import Flavor as SdkFlavor
from openstack.compute.v2.keypair import Keypair as SdkKeypair
from openstack.compute.v2.server import Server as SdkServer
from openstack.image.v2.image import Image as SdkImage
from openstack.network.v2.floating_ip import FloatingIP as SdkFloatingIP
from openstack.network.v2.security_group import SecurityGroup as SdkSecurityGroup
from openstack.network.v2.security_group_rule import SecurityGroupRule as SdkSecurityGroupRule

from adapters.base import ImageState, InstanceState, SecurityRule, SnapshotState, VolumeState
from adapters.openstack import _mapping
from tests.contract.clouds.openstack import SDK_WARNING_FILTERS

pytestmark = [pytest.mark.filterwarnings(f) for f in SDK_WARNING_FILTERS]


class _NotConstant(Exception):
    pass


def _value(node: ast.expr, known: dict[str, Any]) -> Any:
    """A literal (dicts, lists, strings, numbers, None, booleans, names of earlier constants); anything else is not
    a constant of the module and is left out."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(k, known): _value(v, known) for k, v in zip(node.keys, node.values, strict=True) if k}
    if isinstance(node, ast.List | ast.Tuple):
        items = [_value(e, known) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand, known)
    raise _NotConstant(ast.dump(node))


def examples(module: str) -> dict[str, Any]:
    """The module-level constants of `openstack/tests/unit/<module>.py` in the installed openstacksdk."""
    file = importlib.resources.files("openstack").joinpath("tests", "unit", *f"{module}.py".split("/"))
    # The locked openstacksdk ships them: without them these tests would check nothing, so that is a failure.
    assert file.is_file(), f"the installed openstacksdk ships no openstack/tests/unit/{module}.py"
    known: dict[str, Any] = {}
    for statement in ast.parse(file.read_text()).body:
        target: ast.expr | None = None
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        if isinstance(target, ast.Name):
            try:
                known[target.id] = _value(value, known)
            except _NotConstant:
                continue
    return known


def _both(cls: Any, body: dict[str, Any]) -> list[Any]:
    """The body as Nova's JSON (the adapter's own reads) and as the SDK's resource (what its calls return)."""
    return [body, cls.existing(**body)]


# --- Nova ------------------------------------------------------------------------------------------------------


def test_nova_servers_from_the_sdks_examples() -> None:
    body = examples("compute/v2/test_server")["EXAMPLE"]
    for server in _both(SdkServer, body):
        instance = _mapping.to_instance(server, {"default": "group-default"})
        assert (instance.id, instance.name, instance.state) == ("IDENTIFIER", "new-server-test", InstanceState.RUNNING)
        assert instance.image_id == "70a599e0-31e7-49b7-b260-868f441e862b"
        # 2.47 and later: the flavor is embedded; with no catalogue flavor of its name and sizes, it is its name.
        assert instance.flavor_id == "m1.tiny.specs"
        assert (instance.private_ips, instance.public_ips) == (("192.168.0.3",), ())
        assert (instance.zone, instance.key_name, instance.security_group_ids) == (
            "us-west",
            "dummy",
            ("group-default",),
        )
        assert instance.tags == {"My Server Name": "Apache1"}
        assert instance.created_at == datetime(2017, 2, 14, 19, 23, 58, tzinfo=UTC)
        assert (instance.extra["power_state"], instance.extra["locked"]) == ("running", True)
        assert instance.extra["boot_from_volume"] is False and instance.reason is None


def test_nova_servers_booted_from_volumes_and_in_error() -> None:
    body = examples("compute/v2/test_server")["EXAMPLE"]
    fault = {"code": 500, "created": "2017-02-14T19:24:00Z", "message": "No valid host was found. "}
    changed = dict(body, image="", status="ERROR", fault=fault)
    changed["OS-EXT-STS:vm_state"] = "error"
    for server in _both(SdkServer, changed):
        instance = _mapping.to_instance(server)
        assert (instance.image_id, instance.extra["boot_from_volume"]) == ("", True)
        assert (instance.state, instance.reason, instance.extra["fault_code"]) == (
            InstanceState.ERROR,
            "No valid host was found. ",
            500,
        )


def test_nova_flavors_from_the_sdks_examples() -> None:
    found = examples("compute/v2/test_flavor")
    for flavor_body in _both(SdkFlavor, found["BASIC_EXAMPLE"]):
        flavor = _mapping.to_flavor(flavor_body)
        assert (flavor.id, flavor.name, flavor.vcpus, flavor.ram_mb, flavor.disk_gb) == ("IDENTIFIER", "3", 7, 6, 4)
        assert (flavor.extra["ephemeral_gb"], flavor.extra["swap_mb"], flavor.extra["is_public"]) == (9, 8, True)
    # A flavor as a server embeds it (original_name, no id) is known by that name.
    embedded = _mapping.embedded_flavor(found["DEFAULTS_EXAMPLE"])
    assert embedded is not None and (embedded.id, embedded.name) == ("IDENTIFIER", "IDENTIFIER")
    server = examples("compute/v2/test_server")["EXAMPLE"]
    catalogue = _mapping.FlavorCatalogue.of([found["BASIC_EXAMPLE"]])
    assert catalogue.flavor_of(server["flavor"]).id == "m1.tiny.specs", "no flavor of that name or those sizes"


def test_nova_key_pairs_from_the_sdks_examples() -> None:
    for body in _both(SdkKeypair, examples("compute/v2/test_keypair")["EXAMPLE"]):
        pair = _mapping.to_key_pair(body, with_private_key=True)
        assert (pair.name, pair.fingerprint, pair.private_key, pair.extra["type"]) == ("2", "1", "4", "ssh")
        assert _mapping.to_key_pair(body).private_key is None


# --- Cinder ----------------------------------------------------------------------------------------------------


def test_cinder_volumes_and_snapshots_from_the_sdks_examples() -> None:
    found = examples("block_storage/v3/test_volume")
    for body in _both(SdkVolume, found["VOLUME"]):
        volume = _mapping.to_volume(body)
        assert (volume.id, volume.name, volume.size_gb, volume.state) == (
            found["FAKE_ID"],
            "my_volume",
            10,
            VolumeState.CREATING,
        )
        assert (volume.zone, volume.instance_id, volume.device) == ("nova", None, None)
        assert volume.snapshot_id == "93c2e2aa-7744-4fd6-a31a-80c4726b08d7"
        assert volume.created_at == datetime(2015, 3, 9, 12, 14, 57, 233772, tzinfo=UTC)
        assert volume.extra == {"status": "creating", "volume_type": "some_type"}
    snapshots = examples("block_storage/v3/test_snapshot")
    for body in _both(SdkSnapshot, snapshots["SNAPSHOT"]):
        snapshot = _mapping.to_snapshot(body)
        assert (snapshot.id, snapshot.volume_id, snapshot.name) == (
            snapshots["FAKE_ID"],
            snapshots["FAKE_VOLUME_ID"],
            "snap-001",
        )
        assert (snapshot.size_gb, snapshot.state) == (1, SnapshotState.PENDING)


# --- Neutron ---------------------------------------------------------------------------------------------------


def test_neutron_groups_rules_and_floating_ips_from_the_sdks_examples() -> None:
    for body in _both(SdkSecurityGroup, examples("network/v2/test_security_group")["EXAMPLE"]):
        group = _mapping.to_group(body)
        assert (group.id, group.name, group.description) == ("IDENTIFIER", "2", "1")
        # Its rules: one lets everything out over IPv6; one lets in what comes from group "9", which no CIDR says.
        assert group.rules == (SecurityRule("egress", "all", None, None, "::/0"),)
        assert group.extra["rule_ids"] == ("5",)
        assert [(r["id"], r["remote_group_id"]) for r in group.extra["native_rules"]] == [("6", "9")]
    rule = examples("network/v2/test_security_group_rule")["EXAMPLE"]
    for body in _both(SdkSecurityGroupRule, rule):
        assert _mapping.to_rule(body) is None, "a rule from another group is not open to its remote_ip_prefix"
    for body in _both(SdkFloatingIP, examples("network/v2/test_floating_ip")["EXAMPLE"]):
        address = _mapping.to_address(body, {"5": "server-of-port-5"})
        assert (address.id, address.ip, address.instance_id) == ("IDENTIFIER", "127.0.0.1", "server-of-port-5")
        assert (address.extra["port_id"], address.extra["fixed_ip"], address.extra["status"]) == ("5", "1", "ACTIVE")


# --- Glance ----------------------------------------------------------------------------------------------------


def test_glance_images_from_the_sdks_examples() -> None:
    body = examples("image/v2/test_image")["EXAMPLE"]
    for image_body in _both(SdkImage, body):
        image = _mapping.to_image(image_body)
        assert (image.id, image.name, image.os, image.min_disk_gb) == ("IDENTIFIER", "6", "29", 5)
        assert image.state is ImageState.PENDING, "a status Glance does not document is not shown available"
        assert (image.extra["visibility"], image.extra["disk_format"], image.extra["instance_id"]) == ("11", "4", "26")
    for image_body in _both(SdkImage, dict(body, status="active")):
        assert _mapping.to_image(image_body).state is ImageState.AVAILABLE
