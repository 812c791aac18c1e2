"""XAPI failures (as XenAPI raises them) and transport errors, translated in the adapter's one place."""

from __future__ import annotations

import json
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest
import XenAPI

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
)
from adapters.xcp import _errors, _rrd
from adapters.xcp._mapping import POWER_STATES, instance_state

REFERENCE = json.loads((Path(__file__).parents[1] / "standins" / "xapi" / "reference" / "errors.json").read_text())
ERRORS: dict[str, Any] = REFERENCE["errors"]
CODES: set[str] = set(REFERENCE["codes"])


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (["HANDLE_INVALID", "VM", "OpaqueRef:x"], CloudNotFound),
        (["UUID_INVALID", "VM", "1234"], CloudNotFound),
        (["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"], CloudAuthError),
        (["VM_BAD_POWER_STATE", "OpaqueRef:x", "halted", "running"], InvalidCloudState),
        (["VM_IS_TEMPLATE", "OpaqueRef:x", "start"], InvalidCloudState),  # [vm; operation], as check_template says it
        # xapi's check_op_for_feature: [vm ref]; the adapter falls back to the hard way where there is one.
        (["VM_LACKS_FEATURE", "OpaqueRef:x"], InvalidCloudState),
        (["OPERATION_NOT_ALLOWED", "why"], InvalidCloudState),
        (["VDI_IN_USE", "OpaqueRef:x", "destroy"], InvalidCloudState),
        (["SR_FULL", "21474836480", "10737418240"], QuotaExceeded),  # [requested; maximum]
        (["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"], QuotaExceeded),  # [needed; available]
        (["NO_HOSTS_AVAILABLE"], QuotaExceeded),  # no parameters: no host can take the VM
        (["VM_NON_SUSPENDABLE", "OpaqueRef:x", "nested virtualisation"], InvalidCloudState),  # [vm; reason]
        (["OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0"], InvalidCloudState),  # [reason]
        (["FIELD_TYPE_ERROR", "virtual_size"], InvalidCloudRequest),
    ],
)
def test_failures_map_by_code(details: list[str], expected: type[CloudError]) -> None:
    error = _errors.translate(XenAPI.Failure(details), "VM.start")
    assert type(error) is expected
    assert details[0] in str(error)
    # Each case is shaped as xapi raises that code (the reference's parameters).
    reference = ERRORS[details[0]]
    assert len(details) - 1 == len(reference.get("raised", reference["params"]))


@pytest.mark.parametrize(
    ("details", "says"),
    [
        (["VM_NON_SUSPENDABLE", "OpaqueRef:x", "<reason of theirs>"], "the VM cannot be suspended"),
        (["NO_HOSTS_AVAILABLE"], "no host has the free resources to run the VM"),
        (["VM_LACKS_FEATURE", "OpaqueRef:x"], "the guest lacks the feature"),
    ],
)
def test_some_codes_are_told_in_clear_words_of_ours(details: list[str], says: str) -> None:
    error = _errors.translate(XenAPI.Failure(details), "VM.suspend")
    assert str(error).startswith(f"XAPI VM.suspend: {details[0]}: {says}")
    assert "OpaqueRef" not in str(error) and "reason of theirs" not in str(error)


def test_an_unknown_code_is_a_plain_cloud_error() -> None:
    error = _errors.translate(XenAPI.Failure(["SOMETHING_NEW"]), "VM.start")
    assert type(error) is CloudError


def test_transport_errors() -> None:
    assert type(_errors.translate(ConnectionRefusedError(111, "refused"), "login")) is CloudUnavailable
    assert type(_errors.translate(xmlrpc.client.Fault(401, "You must log in"), "x")) is CloudAuthError
    assert type(_errors.translate(xmlrpc.client.Fault(500, "Tried 3 times"), "x")) is CloudUnavailable
    assert not isinstance(KeyError("a bug"), _errors.SDK_ERRORS)


def test_power_states_table() -> None:
    assert instance_state("Halted") is InstanceState.STOPPED
    assert instance_state("Running") is InstanceState.RUNNING
    assert instance_state("Suspended") is InstanceState.SUSPENDED
    assert instance_state("Paused") is InstanceState.SUSPENDED
    assert instance_state("Crashed") is InstanceState.UNKNOWN
    assert set(POWER_STATES) == {"Halted", "Running", "Paused", "Suspended"}


@pytest.mark.parametrize(
    ("status", "expected", "says"),
    [
        (401, CloudAuthError, "authentication failed (HTTP status 401)"),
        (403, CloudAuthError, "authentication failed (HTTP status 403)"),
        (400, InvalidCloudRequest, "the request was refused (HTTP status 400)"),
        (500, CloudUnavailable, "the host failed to answer (HTTP status 500)"),
        (404, CloudUnavailable, "not an XAPI endpoint (unexpected answer, HTTP status 404)"),
    ],
)
def test_http_answers_of_xapis_http_interface(status: int, expected: type[CloudError], says: str) -> None:
    error = _errors.translate(_errors.HttpRefused(status), "GET /rrd_updates")
    assert type(error) is expected
    assert str(error) == f"XAPI GET /rrd_updates: {says}"


def test_an_answer_that_is_no_xport_is_not_xapis() -> None:
    error = _errors.translate(_rrd.Unreadable("not XML"), "get_metrics")
    assert type(error) is CloudUnavailable
    assert str(error) == "XAPI get_metrics: not an XAPI endpoint (unexpected answer)"
    assert isinstance(_rrd.Unreadable("x"), _errors.SDK_ERRORS)


def test_every_code_the_adapter_names_is_one_of_xapis() -> None:
    assert set(_errors._KINDS) <= CODES, set(_errors._KINDS) - CODES


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_error_the_adapter_can_meet_has_a_type_of_its_own(code: str) -> None:
    """The reference lists the errors xapi raises on the calls the adapter makes (and the stand-in answers); none
    of them is left as a bare CloudError."""
    assert _errors.kind_of(code) is not CloudError
    params = ERRORS[code].get("raised", ERRORS[code]["params"]) or []
    error = _errors.translate(XenAPI.Failure([code, *("x" * len(params))]), "VM.start")
    assert type(error) is _errors.kind_of(code)
    assert str(error).startswith(f"XAPI VM.start: {code}")


def test_storage_backend_failures_read_by_their_number() -> None:
    full = _errors.translate(XenAPI.Failure(["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]), "x")
    assert type(full) is QuotaExceeded and "the storage repository is full" in str(full)
    other = _errors.translate(XenAPI.Failure(["SR_BACKEND_FAILURE_47", "", "The SR is not available", ""]), "x")
    assert type(other) is CloudUnavailable
    assert "not available" not in str(other), "their words are not repeated"
