"""Every state the OpenStack services document, as the contract's: Nova's vm and task states as the status Nova shows
for them, Cinder's volume and snapshot statuses, Glance's image statuses, Nova's power states and key pair types, and
each HTTP status the services answer errors with."""

from __future__ import annotations

import json

import pytest
import requests
from openstack import exceptions as sdk

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    ImageState,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    SnapshotState,
    Throttled,
    VolumeState,
)
from adapters.openstack import _errors, _mapping

S = InstanceState

# nova/api/openstack/common.py's _STATE_MAP, whole: (vm_state, task_state) -> the status Nova shows, and the contract's
# state for that status and task. Rows with a task state the status does not show are Nova's "default" rows with a
# task under way.
NOVA = [
    ("active", None, "ACTIVE", S.RUNNING),
    ("active", "rebooting", "REBOOT", S.REBOOTING),
    ("active", "reboot_pending", "REBOOT", S.REBOOTING),
    ("active", "reboot_started", "REBOOT", S.REBOOTING),
    ("active", "rebooting_hard", "HARD_REBOOT", S.REBOOTING),
    ("active", "reboot_pending_hard", "HARD_REBOOT", S.REBOOTING),
    ("active", "reboot_started_hard", "HARD_REBOOT", S.REBOOTING),
    ("active", "updating_password", "PASSWORD", S.RUNNING),
    ("active", "rebuilding", "REBUILD", S.PENDING),
    ("active", "rebuild_block_device_mapping", "REBUILD", S.PENDING),
    ("active", "rebuild_spawning", "REBUILD", S.PENDING),
    ("active", "migrating", "MIGRATING", S.RUNNING),
    ("active", "resize_prep", "RESIZE", S.PENDING),
    ("active", "resize_migrating", "RESIZE", S.PENDING),
    ("active", "resize_migrated", "RESIZE", S.PENDING),
    ("active", "resize_finish", "RESIZE", S.PENDING),
    ("active", "powering-off", "ACTIVE", S.STOPPING),
    ("active", "suspending", "ACTIVE", S.RUNNING),  # the provisioner shows its own "suspending" meanwhile
    ("active", "pausing", "ACTIVE", S.RUNNING),
    ("active", "shelving", "ACTIVE", S.STOPPING),
    ("active", "shelving_image_pending_upload", "ACTIVE", S.STOPPING),
    ("active", "shelving_image_uploading", "ACTIVE", S.STOPPING),
    ("active", "image_snapshot", "ACTIVE", S.RUNNING),
    ("active", "image_snapshot_pending", "ACTIVE", S.RUNNING),
    ("active", "image_pending_upload", "ACTIVE", S.RUNNING),
    ("active", "image_uploading", "ACTIVE", S.RUNNING),
    ("active", "image_backup", "ACTIVE", S.RUNNING),
    ("active", "rescuing", "ACTIVE", S.RUNNING),
    ("active", "deleting", "ACTIVE", S.TERMINATING),
    ("active", "soft-deleting", "ACTIVE", S.TERMINATING),
    ("building", "scheduling", "BUILD", S.PENDING),
    ("building", "block_device_mapping", "BUILD", S.PENDING),
    ("building", "networking", "BUILD", S.PENDING),
    ("building", "spawning", "BUILD", S.PENDING),
    ("building", "deleting", "BUILD", S.TERMINATING),
    ("stopped", None, "SHUTOFF", S.STOPPED),
    ("stopped", "powering-on", "SHUTOFF", S.STARTING),
    ("stopped", "resize_prep", "RESIZE", S.PENDING),
    ("stopped", "resize_finish", "RESIZE", S.PENDING),
    ("stopped", "rebuilding", "REBUILD", S.PENDING),
    ("stopped", "shelving_offloading", "SHUTOFF", S.STOPPING),
    ("resized", None, "VERIFY_RESIZE", S.RUNNING),
    ("resized", "resize_confirming", "VERIFY_RESIZE", S.RUNNING),
    ("resized", "resize_reverting", "REVERT_RESIZE", S.PENDING),
    ("paused", None, "PAUSED", S.SUSPENDED),
    ("paused", "migrating", "MIGRATING", S.RUNNING),
    ("paused", "unpausing", "PAUSED", S.STARTING),
    ("suspended", None, "SUSPENDED", S.SUSPENDED),
    ("suspended", "resuming", "SUSPENDED", S.STARTING),
    ("rescued", None, "RESCUE", S.RUNNING),
    ("rescued", "unrescuing", "RESCUE", S.RUNNING),
    ("error", None, "ERROR", S.ERROR),
    ("error", "rebuilding", "REBUILD", S.PENDING),
    ("error", "rebuild_spawning", "REBUILD", S.PENDING),
    ("error", "deleting", "ERROR", S.TERMINATING),  # deleting a server in error: the delete, not the error, is news
    ("error", "rebooting_hard", "ERROR", S.REBOOTING),  # a hard reboot is how Nova brings one back
    ("deleted", None, "DELETED", S.TERMINATED),
    ("soft-delete", None, "SOFT_DELETED", S.TERMINATED),
    ("soft-delete", "restoring", "SOFT_DELETED", S.STARTING),
    ("shelved", None, "SHELVED", S.STOPPED),
    ("shelved", "unshelving", "SHELVED", S.STARTING),
    ("shelved", "shelving_offloading", "SHELVED", S.STOPPING),
    ("shelved_offloaded", None, "SHELVED_OFFLOADED", S.STOPPED),
    ("shelved_offloaded", "unshelving", "SHELVED_OFFLOADED", S.STARTING),
    (None, None, "UNKNOWN", S.UNKNOWN),
]


@pytest.mark.parametrize(("vm_state", "task_state", "status", "expected"), NOVA)
def test_every_nova_status_and_task(vm_state: str | None, task_state: str | None, status: str, expected: S) -> None:
    server = {
        "id": "s",
        "status": status,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:power_state": 1,
        "created": "2026-01-01T00:00:00Z",
    }
    instance = _mapping.to_instance(server)
    assert instance.state is expected
    assert (instance.extra["status"], instance.extra["task_state"], instance.extra["vm_state"]) == (
        status,
        task_state,
        vm_state,
    )


def test_every_nova_task_state_is_considered() -> None:
    """nova.objects.fields.InstanceTaskState, whole: each one is in the walk above."""
    task_states = {
        "scheduling", "block_device_mapping", "networking", "spawning", "image_snapshot", "image_snapshot_pending",
        "image_pending_upload", "image_uploading", "image_backup", "updating_password", "resize_prep",
        "resize_migrating", "resize_migrated", "resize_finish", "resize_reverting", "resize_confirming", "rebooting",
        "reboot_pending", "reboot_started", "rebooting_hard", "reboot_pending_hard", "reboot_started_hard", "pausing",
        "unpausing", "suspending", "resuming", "powering-off", "powering-on", "rescuing", "unrescuing", "rebuilding",
        "rebuild_block_device_mapping", "rebuild_spawning", "migrating", "deleting", "soft-deleting", "restoring",
        "shelving", "shelving_image_pending_upload", "shelving_image_uploading", "shelving_offloading", "unshelving",
    }  # fmt: skip
    walked = {task for _vm, task, _status, _state in NOVA if task}
    assert task_states == walked
    assert set(_mapping.TASK_STATES) <= task_states


@pytest.mark.parametrize(
    ("power", "name"),
    [(0, "nostate"), (1, "running"), (3, "paused"), (4, "shutdown"), (6, "crashed"), (7, "suspended"), (None, None)],
)
def test_power_states_are_named(power: int | None, name: str | None) -> None:
    server = {"id": "s", "status": "ACTIVE", "OS-EXT-STS:power_state": power, "created": "2026-01-01T00:00:00Z"}
    assert _mapping.to_instance(server).extra["power_state"] == name


@pytest.mark.parametrize(
    ("status", "attached", "expected"),
    [
        # cinder.objects.fields.VolumeStatus, whole (the API shows "managing" as "creating", "error_managing" as
        # "error"; both are mapped in case an older Cinder shows them as they are).
        ("creating", False, VolumeState.CREATING),
        ("available", False, VolumeState.AVAILABLE),
        ("deleting", False, VolumeState.DELETING),
        ("error", False, VolumeState.ERROR),
        ("error_deleting", False, VolumeState.ERROR),
        ("error_managing", False, VolumeState.ERROR),
        ("managing", False, VolumeState.CREATING),
        ("attaching", False, VolumeState.ATTACHING),
        ("in-use", True, VolumeState.IN_USE),
        ("detaching", True, VolumeState.DETACHING),
        ("maintenance", False, VolumeState.AVAILABLE),
        ("restoring-backup", False, VolumeState.CREATING),
        ("error_restoring", False, VolumeState.ERROR),
        ("reserved", False, VolumeState.ATTACHING),
        ("awaiting-transfer", False, VolumeState.AVAILABLE),
        ("backing-up", True, VolumeState.IN_USE),
        ("error_backing-up", False, VolumeState.ERROR),
        ("error_extending", False, VolumeState.ERROR),
        ("downloading", False, VolumeState.CREATING),
        ("uploading", True, VolumeState.IN_USE),
        ("retyping", False, VolumeState.AVAILABLE),
        ("extending", False, VolumeState.AVAILABLE),
        ("migrating", True, VolumeState.IN_USE),
        ("migrating", False, VolumeState.AVAILABLE),
        # Beside the enum: "unmanaging" (leaving Cinder), "deleted" (a record read as it goes).
        ("unmanaging", False, VolumeState.DELETING),
        ("deleted", False, VolumeState.DELETED),
    ],
)
def test_every_cinder_volume_status(status: str, attached: bool, expected: VolumeState) -> None:
    attachments = [{"server_id": "s", "device": "/dev/vdb"}] if attached else []
    assert _mapping.to_volume({"id": "v", "status": status, "size": 1, "attachments": attachments}).state is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # cinder.objects.fields.SnapshotStatus, whole.
        ("error", SnapshotState.ERROR),
        ("available", SnapshotState.AVAILABLE),
        ("creating", SnapshotState.PENDING),
        ("deleting", SnapshotState.DELETING),
        ("deleted", SnapshotState.DELETING),
        ("updating", SnapshotState.AVAILABLE),
        ("error_deleting", SnapshotState.ERROR),
        ("unmanaging", SnapshotState.DELETING),
        ("backing-up", SnapshotState.AVAILABLE),
        ("restoring", SnapshotState.AVAILABLE),
    ],
)
def test_every_cinder_snapshot_status(status: str, expected: SnapshotState) -> None:
    assert _mapping.to_snapshot({"id": "s", "volume_id": "v", "status": status, "size": 1}).state is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # Glance's image statuses (api-ref "Images": image status), whole.
        ("queued", ImageState.PENDING),
        ("saving", ImageState.PENDING),
        ("uploading", ImageState.PENDING),
        ("importing", ImageState.PENDING),
        ("active", ImageState.AVAILABLE),
        ("deactivated", ImageState.FAILED),  # no one but an admin may boot or download it
        ("killed", ImageState.FAILED),
        ("deleted", ImageState.DEREGISTERED),
        ("pending_delete", ImageState.DEREGISTERED),
    ],
)
def test_every_glance_image_status(status: str, expected: ImageState) -> None:
    assert _mapping.to_image({"id": "i", "name": "n", "status": status}).state is expected


@pytest.mark.parametrize(("kind", "shown"), [("ssh", "ssh"), ("x509", "x509"), (None, "ssh")])
def test_key_pair_types(kind: str | None, shown: str) -> None:
    """Nova's key pair types (2.2 and later): ssh and x509; before 2.2 every key pair is ssh and says nothing."""
    body = {"name": "k", "fingerprint": "fp", "public_key": "ssh-ed25519 AAAA"} | ({"type": kind} if kind else {})
    assert _mapping.to_key_pair(body).extra["type"] == shown


@pytest.mark.parametrize(
    ("status", "fault", "expected"),
    [
        (400, "badRequest", InvalidCloudRequest),
        (401, "unauthorized", CloudAuthError),
        (403, "forbidden", CloudAuthError),
        (404, "itemNotFound", CloudNotFound),
        (405, "badMethod", InvalidCloudRequest),
        (406, "computeFault", InvalidCloudRequest),  # a microversion the cloud does not serve
        (408, "computeFault", CloudUnavailable),
        (409, "conflictingRequest", InvalidCloudState),
        (410, "computeFault", CloudNotFound),
        (413, "overLimit", QuotaExceeded),
        (415, "badMediaType", InvalidCloudRequest),
        (429, "overLimit", Throttled),
        (500, "computeFault", CloudUnavailable),
        (501, "notImplemented", InvalidCloudRequest),  # the cloud's driver cannot: no retry will help
        (502, "computeFault", CloudUnavailable),
        (503, "serviceUnavailable", CloudUnavailable),
        (504, "computeFault", CloudUnavailable),
    ],
)
def test_every_fault_status(status: int, fault: str, expected: type[CloudError]) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({fault: {"code": status, "message": "words of the cloud's"}}).encode()
    response.headers["Content-Type"] = "application/json"
    try:
        sdk.raise_from_response(response)
    except sdk.HttpException as exc:
        translated = _errors.translate(exc, "test")
    else:
        raise AssertionError("the SDK raised nothing")
    assert type(translated) is expected
    assert "words of the cloud's" not in str(translated)
