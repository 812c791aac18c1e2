"""The one place where XAPI's failures (and the ways to it failing) become the contract's error types.

XAPI answers `{"Status": "Failure", "ErrorDescription": [CODE, ...]}`; XenAPI raises that as `XenAPI.Failure` with
`details` the description. `SESSION_INVALID` never reaches here: XenAPI logs in again and retries by itself.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client

import XenAPI

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    Throttled,
)

Failure: type[Exception] = XenAPI.Failure

_NOT_FOUND = frozenset({"HANDLE_INVALID", "UUID_INVALID"})
_AUTH = frozenset({"SESSION_AUTHENTICATION_FAILED", "SESSION_INVALID", "RBAC_PERMISSION_DENIED", "PERMISSION_DENIED"})
_INVALID_STATE = frozenset(
    {
        "VM_BAD_POWER_STATE",
        "VM_IS_TEMPLATE",
        "OPERATION_NOT_ALLOWED",
        "VDI_IN_USE",
        "VM_MISSING_PV_DRIVERS",
        "OTHER_OPERATION_IN_PROGRESS",
        "DEVICE_ALREADY_ATTACHED",
        "DEVICE_ALREADY_DETACHED",
        "VM_HAS_PCI_ATTACHED",
    }
)
_QUOTA = frozenset({"SR_FULL", "HOST_NOT_ENOUGH_FREE_MEMORY", "LICENCE_RESTRICTION"})
_THROTTLED = frozenset({"TOO_MANY_PENDING_TASKS", "TOO_MANY_STORAGE_MIGRATES"})
_UNAVAILABLE = frozenset({"HOST_IS_SLAVE", "HOST_STILL_BOOTING", "HOST_OFFLINE", "INTERNAL_ERROR"})
_INVALID_REQUEST = frozenset(
    {
        "FIELD_TYPE_ERROR",
        "VALUE_NOT_SUPPORTED",
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "MESSAGE_METHOD_UNKNOWN",
        "MAP_DUPLICATE_KEY",
        "DEVICE_ALREADY_EXISTS",
        "INVALID_VALUE",
    }
)


def failure_code(exc: BaseException) -> str | None:
    """The XAPI error code of `exc`, or None when it is not an XAPI failure."""
    if not isinstance(exc, Failure):
        return None
    details = getattr(exc, "details", None)
    if isinstance(details, list | tuple) and details:
        return str(details[0])
    return None


def translate(exc: BaseException, operation: str) -> CloudError | None:
    """The contract's error for what XenAPI raised during `operation`; None for what is not XAPI's (a bug)."""
    code = failure_code(exc)
    if code is not None:
        message = f"{operation}: XAPI {getattr(exc, 'details', code)}"
        if code in _NOT_FOUND:
            return CloudNotFound(message)
        if code in _AUTH:
            return CloudAuthError(message)
        if code in _INVALID_STATE:
            return InvalidCloudState(message)
        if code in _QUOTA:
            return QuotaExceeded(message)
        if code in _THROTTLED:
            return Throttled(message)
        if code in _UNAVAILABLE:
            return CloudUnavailable(message)
        if code in _INVALID_REQUEST:
            return InvalidCloudRequest(message)
        return CloudError(message)
    if isinstance(exc, xmlrpc.client.Fault):
        # XenAPI's own faults: 401 "You must log in", 500 "Tried 3 times to get a valid session", 504 timeout.
        if exc.faultCode == 401:
            return CloudAuthError(f"{operation}: {exc.faultString}")
        return CloudUnavailable(f"{operation}: xapi fault {exc.faultCode}: {exc.faultString}")
    if isinstance(exc, xmlrpc.client.ProtocolError):
        if exc.errcode in (401, 403):
            return CloudAuthError(f"{operation}: HTTP {exc.errcode} {exc.errmsg}")
        return CloudUnavailable(f"{operation}: HTTP {exc.errcode} {exc.errmsg}")
    if isinstance(exc, ConnectionError | socket.timeout | socket.gaierror | http.client.HTTPException | OSError):
        return CloudUnavailable(f"{operation}: xapi unreachable: {exc}")
    return None
