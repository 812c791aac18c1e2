"""The OpenStack adapter's tables: Nova states, Cinder and Glance states, and SDK errors as the contract's errors."""

from __future__ import annotations

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
    Throttled,
    VolumeState,
    guarded,
)
from adapters.openstack import _errors, _mapping

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
        ("ERROR", "deleting", S.ERROR),
        ("ACTIVE", "powering-off", S.STOPPING),
        ("SHUTOFF", "powering-on", S.STARTING),
        ("SUSPENDED", "resuming", S.STARTING),
        ("ACTIVE", "deleting", S.TERMINATING),
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


def test_cinder_states() -> None:
    assert _mapping.to_volume({"id": "v", "status": "in-use", "size": 1}).state is VolumeState.IN_USE
    assert _mapping.to_volume({"id": "v", "status": "error_deleting", "size": 1}).state is VolumeState.ERROR


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
