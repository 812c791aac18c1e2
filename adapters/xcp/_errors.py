"""The one place where XAPI's failures (and the ways to it failing) become the contract's error types.

XAPI answers `{"Status": "Failure", "ErrorDescription": [CODE, ...]}`; XenAPI raises that as `XenAPI.Failure` with
`details` the description. `SESSION_INVALID` never reaches here: XenAPI logs in again and retries by itself.

Their words are ours: an operation, XAPI's error code, an HTTP status, and a fixed description of what went wrong.
Never what the other side sent (a fault's text, a reason phrase, a banner): an endpoint that is not xapi must not have
its answers read back through Clanavi's. XenAPI's exception, with all of it, is chained for the log.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import xmlrpc.client
from xml.parsers.expat import ExpatError

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


# What an XAPI error code looks like; anything else in its place is text of the other side's, not a code.
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,79}$")


def failure_code(exc: BaseException) -> str | None:
    """The XAPI error code of `exc`, or None when it is not an XAPI failure."""
    if not isinstance(exc, Failure):
        return None
    details = getattr(exc, "details", None)
    if isinstance(details, list | tuple) and details:
        return str(details[0])
    return None


def _unreachable(exc: BaseException) -> str:
    """A fixed description of a call that got no XAPI answer."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return "TLS failure (handshake or certificate)"
    if isinstance(exc, ExpatError | xmlrpc.client.ResponseError):
        return "not an XAPI endpoint (unexpected answer)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection closed before an answer"
    if isinstance(exc, http.client.HTTPException):
        return "not an XAPI endpoint (the answer is not HTTP)"
    return "cannot connect to xapi"


def translate(exc: BaseException, operation: str) -> CloudError | None:
    """The contract's error for what XenAPI raised during `operation`; None for what is not XAPI's (a bug)."""
    code = failure_code(exc)
    if code is not None:
        message = f"XAPI {operation}: {code if _CODE.match(code) else 'an error'}"
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
        # XenAPI's own faults: 401 "You must log in", 500 "Tried 3 times to get a valid session" (or an answer
        # without XAPI's Status), 504 timeout.
        fault = exc.faultCode if isinstance(exc.faultCode, int) else "?"
        if fault == 401:
            return CloudAuthError(f"XAPI {operation}: authentication failed (fault 401)")
        return CloudUnavailable(f"XAPI {operation}: xapi fault {fault}")
    if isinstance(exc, xmlrpc.client.ProtocolError):
        if exc.errcode in (401, 403):
            return CloudAuthError(f"XAPI {operation}: authentication failed (HTTP status {exc.errcode})")
        return CloudUnavailable(
            f"XAPI {operation}: not an XAPI endpoint (unexpected answer, HTTP status {exc.errcode})"
        )
    if isinstance(exc, OSError | http.client.HTTPException | ExpatError | xmlrpc.client.ResponseError):
        return CloudUnavailable(f"XAPI {operation}: {_unreachable(exc)}")
    return None
