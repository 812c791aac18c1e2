"""The provisioner's cloud settings, its one table of cloud errors, public key checks, and suspend/resume rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from adapters import registry
from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    Throttled,
    UnsupportedOperation,
)
from kernel.errors import InvalidState, ValidationFailed
from kernel.events import InstanceRunning, InstanceSuspended
from services.provisioner import errors
from services.provisioner.clouds.directory import declared_features
from services.provisioner.instances import domain
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.resources.handlers import check_public_key
from services.provisioner.settings import ConfiguredCloud, ProvisionerSettings

NOW = datetime(2025, 1, 1, tzinfo=UTC)


# --- settings --------------------------------------------------------------------------------------------------


def test_cloud_accounts_and_sim_options_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CLANAVI_PROVISIONER_CLOUDS",
        '[{"id": "aws", "name": "AWS", "driver": "ec2", "config": {"region": "eu-west-1"}}]',
    )
    monkeypatch.setenv("CLANAVI_PROVISIONER_SIM_OPTIONS", '{"rate_limit_per_second": 20, "boot_seconds": 0.5}')

    settings = ProvisionerSettings()

    assert settings.clouds == [
        ConfiguredCloud(id="aws", name="AWS", driver="ec2", config={"region": "eu-west-1"}, enabled=True)
    ]
    config = settings.sim_config()
    assert config["rate_limit_per_second"] == 20
    assert config["boot_seconds"] == 0.5  # the options win over the separate settings
    assert config["stop_seconds"] == 2.0


@pytest.mark.parametrize(
    ("clouds", "message"),
    [
        ('[{"id": "x", "name": "X", "driver": "vmware"}]', "unknown driver 'vmware'"),
        ('[{"id": "sim", "name": "X", "driver": "simcloud"}]', "built-in SimCloud account"),
        (
            '[{"id": "a", "name": "A", "driver": "ec2"}, {"id": "a", "name": "B", "driver": "ec2"}]',
            "repeated: a",
        ),
        ('[{"id": "a", "name": "A", "driver": "ec2", "secret": 1}]', "Extra inputs are not permitted"),
    ],
)
def test_bad_cloud_accounts_are_refused(monkeypatch: pytest.MonkeyPatch, clouds: str, message: str) -> None:
    monkeypatch.setenv("CLANAVI_PROVISIONER_CLOUDS", clouds)

    with pytest.raises(ValidationError, match=message):
        ProvisionerSettings()


@pytest.mark.parametrize(
    ("driver", "name"),
    [
        ("simcloud", "SimCloudAdapter"),
        ("ec2", "Ec2Adapter"),
        ("openstack", "OpenStackAdapter"),
        ("libvirt", "LibvirtAdapter"),
        ("xcp", "XcpAdapter"),
    ],
)
def test_features_are_read_from_the_adapter_class_without_connecting(driver: str, name: str) -> None:
    cls = registry.adapter_class(driver)

    assert cls.__name__ == name  # type: ignore[attr-defined]
    assert declared_features(driver) == cls.features and cls.features
    assert declared_features("nope") == frozenset()


# --- the error table -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UnsupportedOperation("sim", "attach_volume"), 501, "unsupported_operation"),
        (CloudNotFound("no volume v-1"), 404, "not_found"),
        (InvalidCloudRequest("bad cidr"), 422, "validation_failed"),
        (InvalidCloudState("volume is in-use"), 409, "invalid_state"),
        (QuotaExceeded("20 instances"), 409, "quota_exceeded"),
        (Throttled("slow down"), 503, "throttled"),
        (CloudUnavailable("timeout"), 503, "cloud_unavailable"),
        (CloudAuthError("bad key"), 502, "cloud_auth_failed"),
        (CloudError("odd"), 502, "cloud_error"),
    ],
)
def test_each_cloud_error_has_one_problem(error: CloudError, status: int, code: str) -> None:
    problem = errors.from_cloud(error, cloud_id="sim")

    assert (problem.http_status, problem.code) == (status, code)
    assert "sim" in problem.detail


def test_a_referenced_id_the_cloud_does_not_have_names_the_field() -> None:
    problem = errors.from_cloud(CloudNotFound("no instance i-1"), cloud_id="sim", field="body.instance_id")

    assert isinstance(problem, ValidationFailed)
    assert problem.extensions["errors"][0]["location"] == "body.instance_id"


def test_busy_clouds_say_when_to_come_back() -> None:
    class SlowDown(Throttled):
        retry_after = 4.4

    problem = errors.from_cloud(SlowDown("x"), cloud_id="sim")

    assert isinstance(problem, errors.RetryLater) and problem.retry_after == 4
    assert isinstance(errors.from_cloud(Throttled("x"), cloud_id="sim"), errors.RetryLater)
    assert errors.retry_after(Throttled("x")) == 1.0


# --- public keys -----------------------------------------------------------------------------------------------


def test_an_openssh_public_key_is_accepted_and_tidied() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

    assert check_public_key(f"  {line}   me@laptop \n") == f"{line} me@laptop"


@pytest.mark.parametrize(
    "text", ["", "ssh-rsa", "ssh-dss AAAAB3NzaC1kc3M=", "ssh-ed25519 not_base64!", "ssh-ed25519 AAAAB3NzaC1yc2E="]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_public_key(text)

    assert caught.value.extensions["errors"][0]["location"] == "body.public_key"


# --- suspend and resume ----------------------------------------------------------------------------------------


def record(state: str, pending: domain.Action | None = None) -> InstanceRecord:
    return InstanceRecord(
        id="inst-1",
        project_id="p",
        cloud_id="sim",
        name="web",
        image_id="img",
        flavor_id="f",
        provider_id="sim-1",
        state=state,
        pending_action=pending,
        attempts=0,
        reason=None,
        private_ips=(),
        correlation_id="c",
        last_event_id=None,
        created_at=NOW,
        updated_at=NOW,
    )


def cloud(state: InstanceState) -> Instance:
    return Instance(id="sim-1", name="web", state=state, image_id="img", flavor_id="f", created_at=NOW)


def test_suspend_and_resume_go_through_their_own_states() -> None:
    requested = domain.request_action(record("running"), "suspend")
    assert (requested.state, requested.pending_action) == ("suspending", "suspend")
    assert "suspending" in domain.TRANSITIONAL
    # As the worker does once the cloud took the call: the action is no longer pending, the state followed.
    suspending = replace(requested, pending_action=None)

    # The cloud has not started on it: nothing changes, and no `instance.running` is claimed.
    assert domain.observe(suspending, cloud(InstanceState.RUNNING)) == (suspending, [])
    suspended, events = domain.observe(suspending, cloud(InstanceState.SUSPENDED))
    assert suspended.state == "suspended"
    assert events == [InstanceSuspended(instance_id="inst-1", cloud_id="sim", provider_id="sim-1")]

    resuming = replace(domain.request_action(suspended, "resume"), pending_action=None)
    assert domain.observe(resuming, cloud(InstanceState.SUSPENDED)) == (resuming, [])
    running, events = domain.observe(resuming, cloud(InstanceState.RUNNING))
    assert running.state == "running"
    assert events == [
        InstanceRunning(
            instance_id="inst-1", cloud_id="sim", provider_id="sim-1", flavor_id="f", previous_state="resuming"
        )
    ]
    assert domain.request_action(suspended, "terminate").state == "terminating"


@pytest.mark.parametrize(("state", "action"), [("stopped", "suspend"), ("running", "resume"), ("suspended", "stop")])
def test_suspend_and_resume_need_the_right_state(state: str, action: domain.UserAction) -> None:
    with pytest.raises(InvalidState):
        domain.request_action(record(state), action)


def test_the_user_data_is_dropped_once_the_instance_is_launched() -> None:
    requested = replace(
        record("requested", "launch"),
        provider_id=None,
        launch_options={"user_data": "secret", "security_group_provider_ids": ["sg-1"]},
    )

    after, _ = domain.launched(requested, cloud(InstanceState.PENDING))

    assert after.launch_options == {"security_group_provider_ids": ["sg-1"]}
