"""The OpenStack adapter's tables: Nova states, Cinder and Glance states, and SDK errors as the contract's errors."""

from __future__ import annotations

import json

import pytest
import requests
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    SecurityRule,
    SnapshotState,
    Throttled,
    VolumeState,
    guarded,
)
from adapters.openstack import _errors, _mapping
from services.provisioner.errors import retry_after

S = InstanceState


@pytest.mark.parametrize(
    ("status", "task_state", "expected"),
    [
        ("BUILD", "spawning", S.PENDING),
        ("ACTIVE", None, S.RUNNING),
        ("SHUTOFF", None, S.STOPPED),
        ("REBOOT", "rebooting", S.REBOOTING),
        ("HARD_REBOOT", "rebooting_hard", S.REBOOTING),
        ("SUSPENDED", None, S.SUSPENDED),
        ("DELETED", None, S.TERMINATED),
        ("ERROR", None, S.ERROR),
        ("ERROR", "deleting", S.TERMINATING),  # a server in error being deleted
        ("ACTIVE", "powering-off", S.STOPPING),
        ("SHUTOFF", "powering-on", S.STARTING),
        ("SUSPENDED", "resuming", S.STARTING),
        ("ACTIVE", "deleting", S.TERMINATING),
        ("RESIZE", "resize_prep", S.PENDING),
        ("VERIFY_RESIZE", None, S.RUNNING),
        ("REVERT_RESIZE", "resize_reverting", S.PENDING),
        ("MIGRATING", "migrating", S.RUNNING),
        ("PASSWORD", None, S.RUNNING),
        ("REBUILD", "rebuilding", S.PENDING),
        ("RESCUE", None, S.RUNNING),
        ("SHELVED", None, S.STOPPED),
        ("SHELVED_OFFLOADED", None, S.STOPPED),
        ("SOFT_DELETED", None, S.TERMINATED),
        ("SOMETHING_NEW", None, S.UNKNOWN),
    ],
)
def test_nova_states(status: str, task_state: str | None, expected: InstanceState) -> None:
    assert _mapping.instance_state(status, task_state) is expected


def test_a_server_body_becomes_an_instance_without_its_client_token() -> None:
    server = {
        "id": "abc",
        "name": "vm",
        "status": "ACTIVE",
        "image": {"id": "img"},
        "flavor": {"id": "1"},
        "created_at": "2026-11-24T10:00:00Z",
        "addresses": {
            "private": [
                {"addr": "10.0.0.3", "OS-EXT-IPS:type": "fixed"},
                {"addr": "172.24.4.10", "OS-EXT-IPS:type": "floating"},
            ]
        },
        "metadata": {_mapping.TOKEN_KEY: "tok", "team": "x"},
        "security_groups": [{"name": "default"}, {"name": "web"}],
        "availability_zone": "nova",
    }
    instance = _mapping.to_instance(server, {"default": "id-default"})
    assert (instance.state, instance.image_id, instance.flavor_id) == (S.RUNNING, "img", "1")
    assert instance.private_ips == ("10.0.0.3",) and instance.public_ips == ("172.24.4.10",)
    assert instance.tags == {"team": "x"} and instance.extra["client_token"] == "tok"
    assert instance.security_group_ids == ("id-default", "web")
    assert instance.created_at.tzinfo is not None


def test_neutron_rules_become_contract_rules() -> None:
    assert _mapping.to_rule(
        {
            "direction": "ingress",
            "protocol": "tcp",
            "port_range_min": 22,
            "port_range_max": 22,
            "remote_ip_prefix": None,
        }
    ) == SecurityRule("ingress", "tcp", 22, 22, "0.0.0.0/0")
    assert _mapping.to_rule({"direction": "egress", "protocol": None, "ethertype": "IPv6"}) == SecurityRule(
        "egress", "all", None, None, "::/0"
    )


# Shaped like the Neutron API reference's "Show security group" sample: the default group's rules, two of them open
# to the group's own members (remote_group_id, no remote_ip_prefix), two open egress.
_DEFAULT_GROUP = {
    "security_group": {
        "id": "85cc3048-abc3-43cc-89b3-377341426ac5",
        "name": "default",
        "description": "Default security group",
        "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
        "tenant_id": "e4f50856753b4dc6afee5fa6b9b6c550",
        "revision_number": 4,
        "stateful": True,
        "tags": [],
        "created_at": "2018-03-19T19:16:56Z",
        "updated_at": "2018-03-19T19:16:56Z",
        "security_group_rules": [
            {
                "direction": "egress",
                "ethertype": "IPv6",
                "id": "3c0e45ff-adaf-4124-b083-bf390e5482ff",
                "port_range_max": None,
                "port_range_min": None,
                "protocol": None,
                "remote_group_id": None,
                "remote_ip_prefix": None,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 1,
                "description": "",
            },
            {
                "direction": "egress",
                "ethertype": "IPv4",
                "id": "93aa42e5-80db-4581-9391-3a608bd0e448",
                "port_range_max": None,
                "port_range_min": None,
                "protocol": None,
                "remote_group_id": None,
                "remote_ip_prefix": None,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 1,
                "description": "",
            },
            {
                "direction": "ingress",
                "ethertype": "IPv6",
                "id": "c0b09f00-1d49-4e64-a0a7-8a186d928138",
                "port_range_max": None,
                "port_range_min": None,
                "protocol": None,
                "remote_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "remote_ip_prefix": None,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 1,
                "description": "",
            },
            {
                "direction": "ingress",
                "ethertype": "IPv4",
                "id": "f7d45c89-008e-4bab-88ad-d6811724c51c",
                "port_range_max": None,
                "port_range_min": None,
                "protocol": None,
                "remote_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "remote_ip_prefix": None,
                "security_group_id": "85cc3048-abc3-43cc-89b3-377341426ac5",
                "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
                "revision_number": 1,
                "description": "",
            },
        ],
    }
}


def test_rules_from_another_group_are_never_shown_open_to_every_address() -> None:
    group = _mapping.to_group(_DEFAULT_GROUP["security_group"])
    assert group.rules == (
        SecurityRule("egress", "all", None, None, "::/0"),
        SecurityRule("egress", "all", None, None, "0.0.0.0/0"),
    )
    assert group.extra["rule_ids"] == ("3c0e45ff-adaf-4124-b083-bf390e5482ff", "93aa42e5-80db-4581-9391-3a608bd0e448")
    assert group.extra["unmapped_rules"] == 2
    native = group.extra["native_rules"]
    assert [(r["id"], r["direction"], r["ethertype"], r["remote_group_id"]) for r in native] == [
        ("c0b09f00-1d49-4e64-a0a7-8a186d928138", "ingress", "IPv6", "85cc3048-abc3-43cc-89b3-377341426ac5"),
        ("f7d45c89-008e-4bab-88ad-d6811724c51c", "ingress", "IPv4", "85cc3048-abc3-43cc-89b3-377341426ac5"),
    ]
    # So revoking "ingress, all, 0.0.0.0/0" (the adapter compares `to_rule`) cannot pick a group rule.
    open_ingress = SecurityRule("ingress", "all", None, None, "0.0.0.0/0")
    rules = _DEFAULT_GROUP["security_group"]["security_group_rules"]
    assert isinstance(rules, list)
    assert [r for r in rules if _mapping.to_rule(r) == open_ingress] == []


def _numbered_rule(protocol: str, low: int | None, high: int | None) -> dict[str, object]:
    """Shaped like the Neutron API reference's "Create security group rule" answer, with a protocol number."""
    return {
        "direction": "ingress",
        "ethertype": "IPv4",
        "id": "2bc0accf-312e-429a-956e-e4407625eb62",
        "port_range_max": high,
        "port_range_min": low,
        "protocol": protocol,
        "remote_group_id": None,
        "remote_ip_prefix": "10.0.0.0/24",
        "security_group_id": "a7734e61-b545-452d-a3cd-0189cbd9747a",
        "project_id": "e4f50856753b4dc6afee5fa6b9b6c550",
        "revision_number": 1,
        "description": "",
        "created_at": "2018-03-19T19:16:56Z",
        "updated_at": "2018-03-19T19:16:56Z",
    }


@pytest.mark.parametrize(
    ("protocol", "low", "high", "expected"),
    [
        ("6", 80, 80, SecurityRule("ingress", "tcp", 80, 80, "10.0.0.0/24")),
        ("17", 5000, 5010, SecurityRule("ingress", "udp", 5000, 5010, "10.0.0.0/24")),
        ("1", None, None, SecurityRule("ingress", "icmp", None, None, "10.0.0.0/24")),
        ("tcp", 22, 22, SecurityRule("ingress", "tcp", 22, 22, "10.0.0.0/24")),
        ("47", None, None, None),  # GRE: not "all", which would say more than the rule allows
    ],
)
def test_numbered_protocols_keep_their_ports(
    protocol: str, low: int | None, high: int | None, expected: SecurityRule | None
) -> None:
    assert _mapping.to_rule(_numbered_rule(protocol, low, high)) == expected


def test_cinder_states() -> None:
    assert _mapping.to_volume({"id": "v", "status": "in-use", "size": 1}).state is VolumeState.IN_USE
    assert _mapping.to_volume({"id": "v", "status": "error_deleting", "size": 1}).state is VolumeState.ERROR


def _cinder_volume(status: str, *, attached: bool) -> dict[str, object]:
    """Shaped like the Block Storage v3 API reference's "Show a volume's details" sample."""
    volume_id = "f7223234-1afc-4d19-bfa3-d19deb6235ef"
    attachments = [
        {
            "server_id": "6c8cf6e0-4c8f-442f-9196-9679737feec6",
            "attachment_id": "3dafcac4-1cb9-4b60-a227-d729baa10cf6",
            "attached_at": "2017-02-10T14:24:52.000000",
            "host_name": None,
            "volume_id": volume_id,
            "device": "/dev/vdb",
            "id": volume_id,
        }
    ]
    return {
        "attachments": attachments if attached else [],
        "availability_zone": "nova",
        "bootable": "false",
        "consistencygroup_id": None,
        "created_at": "2018-11-29T06:50:07.770785",
        "description": None,
        "encrypted": False,
        "id": volume_id,
        "metadata": {},
        "migration_status": None,
        "multiattach": False,
        "name": None,
        "replication_status": None,
        "size": 10,
        "snapshot_id": None,
        "source_volid": None,
        "status": status,
        "updated_at": "2018-11-29T06:50:09.413985",
        "user_id": "c853ca26-e8ea-4797-8a52-ee124a013d0e",
        "volume_type": "lvmdriver-1",
        "group_id": None,
        "provider_id": None,
        "service_uuid": None,
        "shared_targets": True,
        "cluster_name": None,
        "volume_type_id": "5fed9d7c-401d-46e2-8e80-f30c70cb7e1d",
        "consumes_quota": True,
    }


@pytest.mark.parametrize(
    ("status", "attached", "expected"),
    [
        ("creating", False, VolumeState.CREATING),
        ("downloading", False, VolumeState.CREATING),
        ("restoring-backup", False, VolumeState.CREATING),
        ("managing", False, VolumeState.CREATING),
        ("reserved", False, VolumeState.ATTACHING),
        ("detaching", True, VolumeState.DETACHING),
        ("unmanaging", False, VolumeState.DELETING),
        ("uploading", False, VolumeState.AVAILABLE),
        ("uploading", True, VolumeState.IN_USE),
        ("retyping", False, VolumeState.AVAILABLE),
        ("retyping", True, VolumeState.IN_USE),
        ("backing-up", True, VolumeState.IN_USE),
        ("backing-up", False, VolumeState.AVAILABLE),
        ("extending", False, VolumeState.AVAILABLE),
        ("extending", True, VolumeState.IN_USE),
        ("updating", False, VolumeState.AVAILABLE),
        ("awaiting-transfer", False, VolumeState.AVAILABLE),
        ("maintenance", True, VolumeState.IN_USE),
        ("maintenance", False, VolumeState.AVAILABLE),
        ("error_extending", False, VolumeState.ERROR),
    ],
)
def test_cinder_volumes_busy_or_moving_are_not_errors(status: str, attached: bool, expected: VolumeState) -> None:
    volume = _mapping.to_volume(_cinder_volume(status, attached=attached))
    assert volume.state is expected
    assert volume.extra["status"] == status  # Cinder's own word stays beside the contract's
    assert volume.instance_id == ("6c8cf6e0-4c8f-442f-9196-9679737feec6" if attached else None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("creating", SnapshotState.PENDING),
        ("backing-up", SnapshotState.AVAILABLE),
        ("restoring", SnapshotState.AVAILABLE),
        ("unmanaging", SnapshotState.DELETING),
        ("error_deleting", SnapshotState.ERROR),
    ],
)
def test_cinder_snapshot_states(status: str, expected: SnapshotState) -> None:
    """Shaped like the Block Storage v3 API reference's "Show a snapshot's details" sample."""
    snapshot = {
        "status": status,
        "size": 1,
        "metadata": {},
        "name": "snap-001",
        "volume_id": "5aa119a8-d25b-45a7-8d1b-88e127885635",
        "created_at": "2014-03-25T18:49:56.000000",
        "description": "Daily backup",
        "id": "2bb856e1-b3d8-4432-a858-09e4ce939389",
        "updated_at": None,
    }
    assert _mapping.to_snapshot(snapshot).state is expected


def _http(status: int, message: str = "boom") -> sdk.HttpException:
    response = requests.Response()
    response.status_code = status
    return sdk.HttpException(message=message, response=response, details=message)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_http(400), InvalidCloudRequest),
        (_http(401), CloudAuthError),
        (_http(403), CloudAuthError),
        (_http(403, "Quota exceeded for instances"), QuotaExceeded),
        (_http(404), CloudNotFound),
        (_http(409, "Cannot 'start' instance while it is in vm_state active"), InvalidCloudState),
        (_http(409, "Key pair 'k' already exists."), InvalidCloudRequest),
        (_http(400, "Invalid volume: Volume status must be available"), InvalidCloudState),
        (_http(413), QuotaExceeded),
        (_http(429), Throttled),
        (_http(500), CloudUnavailable),
        (_http(503), CloudUnavailable),
        (sdk.ResourceNotFound("gone"), CloudNotFound),
        (ksa.ConnectFailure("refused"), CloudUnavailable),
        (ksa.Unauthorized("no"), CloudAuthError),
        (ksa.DiscoveryFailure("no version"), CloudUnavailable),
    ],
)
def test_sdk_errors_are_translated_in_one_place(exc: Exception, expected: type[CloudError]) -> None:
    translated = _errors.translate(exc, "test")
    assert type(translated) is expected
    with pytest.raises(expected):
        guarded(_errors, "test", lambda: (_ for _ in ()).throw(exc))


def test_an_sdk_error_wrapping_a_refused_login_is_an_auth_error() -> None:
    try:
        try:
            raise ksa.Unauthorized("The request you have made requires authentication.")
        except ksa.Unauthorized as inner:
            raise sdk.SDKException(str(inner))  # noqa: B904 - how the SDK itself wraps it
    except sdk.SDKException as wrapped:
        assert isinstance(_errors.translate(wrapped, "authenticate"), CloudAuthError)


def _answered(status: int, body: object, headers: dict[str, str] | None = None) -> sdk.SDKException:
    """The exception openstacksdk raises for an answer (through its own `raise_from_response`)."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    try:
        sdk.raise_from_response(response)
    except sdk.SDKException as exc:
        return exc
    raise AssertionError("no error raised")


_INSTANCES = "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
_POLICY = "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."


def _nova(status: int, key: str, message: str) -> dict[str, object]:
    return {key: {"code": status, "message": message}}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            _answered(
                409,
                {
                    "NeutronError": {
                        "type": "OverQuota",
                        "message": "Quota exceeded for resources: ['security_group_rule'].",
                        "detail": "",
                    }
                },
            ),
            QuotaExceeded,
        ),
        (
            _answered(409, {"NeutronError": {"type": "OverQuota", "message": "Over quota.", "detail": ""}}),
            QuotaExceeded,
        ),
        (
            _answered(
                409,
                {
                    "NeutronError": {
                        "type": "InUse",
                        "message": "Unable to complete operation on network.",
                        "detail": "",
                    }
                },
            ),
            InvalidCloudState,
        ),
        (_answered(403, _nova(403, "forbidden", "Maximum number of ports exceeded")), QuotaExceeded),
        (_answered(403, _nova(403, "forbidden", "Maximum number of metadata items exceeds 128")), QuotaExceeded),
        (
            _answered(403, _nova(403, "forbidden", "Maximum number of security groups or rules exceeded")),
            QuotaExceeded,
        ),
        (
            _answered(
                403,
                _nova(403, "forbidden", "Quota exceeded for cores: Requested 4, but already used 20 of 20 cores"),
            ),
            QuotaExceeded,
        ),
        (
            _answered(
                403,
                _nova(403, "forbidden", "Quota exceeded for ram: Requested 512, but already used 51200 of 51200 ram"),
            ),
            QuotaExceeded,
        ),
        (
            _answered(
                403,
                _nova(403, "forbidden", _INSTANCES),
            ),
            QuotaExceeded,
        ),
        (
            _answered(
                403,
                _nova(403, "forbidden", _POLICY),
            ),
            CloudAuthError,
        ),
    ],
)
def test_limits_reached_are_quota_errors(exc: Exception, expected: type[CloudError]) -> None:
    assert type(_errors.translate(exc, "test")) is expected


def test_a_throttled_answer_keeps_its_retry_after() -> None:
    nova_limited = _answered(
        413,
        {
            "overLimit": {
                "code": 413,
                "message": "This request was rate-limited.",
                "retryAfter": "59",
                "details": 'Only 10 POST request(s) can be made to "*" every minute.',
            }
        },
        {"Retry-After": "59"},
    )
    translated = _errors.translate(nova_limited, "launch instance")
    assert type(translated) is Throttled and translated.retry_after == 59.0  # type: ignore[attr-defined]

    too_many = _answered(429, {"message": "Too many requests"}, {"Retry-After": "7"})
    translated = _errors.translate(too_many, "list servers")
    assert type(translated) is Throttled and translated.retry_after == 7.0  # type: ignore[attr-defined]
    assert retry_after(translated) == 7.0

    dated = _answered(429, {"message": "Too many requests"}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert _errors.translate(dated, "list servers").retry_after == 0.0  # type: ignore[attr-defined]

    # Cinder's quota errors are 413 overLimit that say "Retry-After: 0": a limit reached, not a throttle.
    for message in (
        "Maximum number of snapshots allowed (10) exceeded",
        "Maximum number of volumes allowed (10) exceeded for quota 'volumes'.",
        "Requested volume size 2000G is larger than maximum allowed limit 1000G.",
    ):
        cinder = _answered(
            413, {"overLimit": {"code": 413, "message": message, "retryAfter": "0"}}, {"Retry-After": "0"}
        )
        translated = _errors.translate(cinder, "create snapshot")
        assert type(translated) is QuotaExceeded and not hasattr(translated, "retry_after")

    # Without Retry-After, a 413 is a limit reached and a 429 a plain throttle.
    assert type(_errors.translate(_answered(413, {"message": "Request too large"}), "x")) is QuotaExceeded
    assert retry_after(_errors.translate(_answered(429, {"message": "slow down"}), "x")) == 1.0
