"""The one place where XAPI's failures (and the ways to it failing) become the contract's error types.

XAPI answers `{"Status": "Failure", "ErrorDescription": [CODE, ...]}`; XenAPI raises that as `XenAPI.Failure` with
`details` the description. `SESSION_INVALID` never reaches here: XenAPI logs in again and retries by itself.

xapi's HTTP interface (xcp-rrdd's `/rrd_updates`) answers with an HTTP status instead: 401 for a session it does not
know, 400 for a request it cannot read, 500 when it has nothing to export or failed; its pages are not read.

Their words are ours: an operation, XAPI's error code, an HTTP status, and a fixed description of what went wrong.
Never what the other side sent (a fault's text, a reason phrase, a banner): an endpoint that is not xapi must not have
its answers read back through Clanavi's. XenAPI's exception, with all of it, is chained for the log.
"""

from __future__ import annotations

import http.client
import re
import xmlrpc.client
from xml.parsers.expat import ExpatError

import XenAPI

from adapters import base
from adapters.kit import AUTH_FAILED, Unanswered, Words, kinds_by_code
from adapters.xcp._rrd import Unreadable

Failure: type[Exception] = XenAPI.Failure

_KINDS = kinds_by_code(
    {
        base.CloudNotFound: ("HANDLE_INVALID", "UUID_INVALID", "OBJECT_NOLONGER_EXISTS", "VDI_MISSING"),
        base.CloudAuthError: (
            "SESSION_AUTHENTICATION_FAILED",
            "SESSION_AUTHORIZATION_FAILED",
            "SESSION_INVALID",
            "RBAC_PERMISSION_DENIED",
            "PERMISSION_DENIED",
            "USER_IS_NOT_LOCAL_SUPERUSER",
        ),
        # The VM (or disk) is not in a state, or of a kind, that allows the operation: a template, a snapshot, an
        # operation blocked or in progress, a device or policy in the way, a guest without the drivers it needs.
        base.InvalidCloudState: (
            "VM_BAD_POWER_STATE",
            "VM_IS_TEMPLATE",
            "VM_IS_SNAPSHOT",
            "PROVISION_ONLY_ALLOWED_ON_TEMPLATE",
            "OPERATION_NOT_ALLOWED",
            "OPERATION_BLOCKED",
            "OTHER_OPERATION_IN_PROGRESS",
            "VDI_IN_USE",
            "VDI_READONLY",
            "VDI_NOT_AVAILABLE",
            "VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION",
            "VBD_NOT_EMPTY",
            "VM_MISSING_PV_DRIVERS",
            "VM_LACKS_FEATURE",
            "VM_PV_DRIVERS_IN_USE",
            "VM_NON_SUSPENDABLE",
            "VM_NO_SUSPEND_SR",
            "VM_REQUIRES_SR",
            "VM_IS_IMMOBILE",
            "VM_HAS_PCI_ATTACHED",
            "VM_HAS_VGPU",
            "VM_HAS_VUSBS",
            "VM_IS_PART_OF_AN_APPLIANCE",
            "VM_ASSIGNED_TO_PROTECTION_POLICY",
            "VM_IS_PROTECTED",
            "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN",
            "DEVICE_ALREADY_ATTACHED",
            "DEVICE_ALREADY_DETACHED",
            "DEVICE_DETACH_REJECTED",
            # The VM changed state under the operation (it halted, rebooted or crashed meanwhile).
            "VM_HALTED",
            "VM_REBOOTED",
            "VM_CRASHED",
            "TASK_CANCELLED",
        ),
        # NO_HOSTS_AVAILABLE: no host in the pool has the memory (or CPUs) to start the VM; capacity, like the others.
        base.QuotaExceeded: (
            "SR_FULL",
            "HOST_NOT_ENOUGH_FREE_MEMORY",
            "NO_HOSTS_AVAILABLE",
            "LICENCE_RESTRICTION",
            "LICENSE_EXPIRED",
        ),
        base.Throttled: ("TOO_MANY_PENDING_TASKS", "TOO_MANY_STORAGE_MIGRATES"),
        # The pool, a host or a storage backend cannot do it now; later, or elsewhere, it may.
        base.CloudUnavailable: (
            "HOST_IS_SLAVE",
            "HOST_STILL_BOOTING",
            "HOST_OFFLINE",
            "HOST_DISABLED",
            "HOST_CANNOT_ATTACH_NETWORK",
            "INTERNAL_ERROR",
            "SR_HAS_NO_PBDS",
            "SR_BACKEND_FAILURE",
            "VM_NOT_RESIDENT_HERE",
            "VM_SHUTDOWN_TIMEOUT",
            "VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT",
            "VM_MIGRATE_FAILED",
            "VM_CHECKPOINT_SUSPEND_FAILED",
            "VM_CHECKPOINT_RESUME_FAILED",
            "DEVICE_DETACH_TIMEOUT",
        ),
        # What was asked cannot be done as asked: a bad value, a size or count out of bounds, an image that does not
        # boot, a storage repository that cannot do it.
        base.InvalidCloudRequest: (
            "FIELD_TYPE_ERROR",
            "VALUE_NOT_SUPPORTED",
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "MESSAGE_METHOD_UNKNOWN",
            "MAP_DUPLICATE_KEY",
            "DEVICE_ALREADY_EXISTS",
            "INVALID_VALUE",
            "VDI_TOO_SMALL",
            "VDI_IS_NOT_ISO",
            "VM_TOO_MANY_VCPUS",
            "VM_MEMORY_SIZE_TOO_LOW",
            "MEMORY_CONSTRAINT_VIOLATION",
            "VM_HVM_REQUIRED",
            "VM_UNSAFE_BOOT",
            "BOOTLOADER_FAILED",
            "UNKNOWN_BOOTLOADER",
            "VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED",
            "SR_OPERATION_NOT_SUPPORTED",
            "SR_NOT_SHARED",
        ),
    }
)

# The storage manager's own codes come as SR_BACKEND_FAILURE_<n> (SM's XE_SR_ERRORCODES.xml); 44 is "there is
# insufficient space" (SRNoSpace), the storage repository's way to say it is full.
_BACKEND = re.compile(r"^SR_BACKEND_FAILURE_(\d+)$")
_BACKEND_FULL = "44"

# What some codes mean, in fixed words of ours (their parameters, such as a reason, are the other side's text).
_MEANS = {
    "VM_NON_SUSPENDABLE": "the VM cannot be suspended (stop it instead)",
    "VM_LACKS_FEATURE": "the guest lacks the feature this needs (no PV drivers or guest agent)",
    "NO_HOSTS_AVAILABLE": "no host has the free resources to run the VM",
    "HOST_NOT_ENOUGH_FREE_MEMORY": "the host has not enough free memory",
    "SR_FULL": "the storage repository is full",
    "VDI_IN_USE": "the disk is in use",
    "VM_IS_TEMPLATE": "the VM is a template",
    "VM_IS_SNAPSHOT": "the VM is a snapshot",
    "OTHER_OPERATION_IN_PROGRESS": "another operation is in progress on it",
    "OPERATION_BLOCKED": "the operation is blocked on this VM",
    f"SR_BACKEND_FAILURE_{_BACKEND_FULL}": "the storage repository is full",
}

# What an XAPI error code looks like; anything else in its place is text of the other side's, not a code.
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,79}$")

WORDS = Words("XAPI", unanswered=(((ExpatError, xmlrpc.client.ResponseError, Unreadable), Unanswered.UNEXPECTED),))


class HttpRefused(Exception):
    """xapi's HTTP interface answered `status`, not 200."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# What XenAPI and its transport (and the HTTP door beside it) raise for a call gone wrong; anything else is a bug
# and is left to propagate.
SDK_ERRORS: tuple[type[Exception], ...] = (
    Failure,
    xmlrpc.client.Error,
    OSError,
    http.client.HTTPException,
    ExpatError,
    HttpRefused,
    Unreadable,
)


def kind_of(code: str) -> type[base.CloudError]:
    """The contract's error type of an XAPI error code; a code this does not know is a plain `CloudError`."""
    backend = _BACKEND.match(code)
    if backend is not None:
        return base.QuotaExceeded if backend.group(1) == _BACKEND_FULL else base.CloudUnavailable
    return _KINDS.get(code, base.CloudError)


def failure_code(exc: BaseException) -> str | None:
    """The XAPI error code of `exc`, or None when it is not an XAPI failure."""
    if not isinstance(exc, Failure):
        return None
    details = getattr(exc, "details", None)
    if isinstance(details, list | tuple) and details:
        return str(details[0])
    return None


def translate(exc: Exception, operation: str) -> base.CloudError:
    """The contract's error for what XenAPI raised during `operation`."""
    code = failure_code(exc)
    if code is not None:
        if not _CODE.match(code):
            return WORDS.error(base.CloudError, operation, "an error")
        means = _MEANS.get(code)
        return WORDS.error(kind_of(code), operation, code if means is None else f"{code}: {means}")
    if isinstance(exc, xmlrpc.client.Fault):
        # XenAPI's own faults: 401 "You must log in", 500 "Tried 3 times to get a valid session" (or an answer
        # without XAPI's Status), 504 timeout.
        fault = exc.faultCode if isinstance(exc.faultCode, int) else "?"
        if fault == 401:
            return WORDS.error(base.CloudAuthError, operation, f"{AUTH_FAILED} (fault 401)")
        return WORDS.error(base.CloudUnavailable, operation, f"xapi fault {fault}")
    if isinstance(exc, HttpRefused):
        status = exc.status
        if status in (401, 403):
            return WORDS.error(base.CloudAuthError, operation, f"{AUTH_FAILED} (HTTP status {status})")
        if status == 400:
            return WORDS.error(base.InvalidCloudRequest, operation, "the request was refused (HTTP status 400)")
        if status in (500, 503):
            return WORDS.error(base.CloudUnavailable, operation, f"the host failed to answer (HTTP status {status})")
        return WORDS.error(base.CloudUnavailable, operation, WORDS.said(Unanswered.UNEXPECTED, f"HTTP status {status}"))
    if isinstance(exc, xmlrpc.client.ProtocolError):
        if exc.errcode in (401, 403):
            return WORDS.error(base.CloudAuthError, operation, f"{AUTH_FAILED} (HTTP status {exc.errcode})")
        return WORDS.error(
            base.CloudUnavailable, operation, WORDS.said(Unanswered.UNEXPECTED, f"HTTP status {exc.errcode}")
        )
    return WORDS.no_answer(operation, exc)
