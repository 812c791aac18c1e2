"""The one place where AWS SDK errors become the contract's error types.

Their words are ours: an action, EC2's error code, an HTTP status, and a fixed description of what went wrong. Never
what the other side sent (an error's message, an answer that did not parse, a banner): an endpoint that is not EC2
must not have its answers read back through Clanavi's. The SDK's exception, with all of it, is chained for the log.
"""

from __future__ import annotations

import re

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.parsers import ResponseParserError

from adapters import base
from adapters.kit import Unanswered, Words

WORDS = Words(
    "EC2",
    unanswered=(
        ((ConnectTimeoutError, ReadTimeoutError), Unanswered.TIMED_OUT),
        ((SSLError, aiohttp.ClientSSLError), Unanswered.TLS),
        (ProxyConnectionError, Unanswered.PROXY),
        ((EndpointConnectionError, aiohttp.ClientConnectorError), Unanswered.CONNECT),
        ((ConnectionClosedError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError), Unanswered.CLOSED),
        (ResponseParserError, Unanswered.UNEXPECTED),
        (aiohttp.ClientResponseError, Unanswered.NOT_HTTP),
    ),
)

# EC2 answers these when the account sends too fast; CloudWatch says Throttling.
THROTTLE_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException"}
)

_CODES: dict[str, type[base.CloudError]] = {
    # credentials and permissions
    "AuthFailure": base.CloudAuthError,
    "UnauthorizedOperation": base.CloudAuthError,
    "InvalidClientTokenId": base.CloudAuthError,
    "SignatureDoesNotMatch": base.CloudAuthError,
    "IncompleteSignature": base.CloudAuthError,
    "MissingAuthenticationToken": base.CloudAuthError,
    "ExpiredToken": base.CloudAuthError,
    "RequestExpired": base.CloudAuthError,
    "AccessDenied": base.CloudAuthError,
    "AccessDeniedException": base.CloudAuthError,
    "OptInRequired": base.CloudAuthError,
    "PendingVerification": base.CloudAuthError,
    "Blocked": base.CloudAuthError,
    # the resource is there, but not in a state that allows this
    "IncorrectState": base.InvalidCloudState,
    "IncorrectInstanceState": base.InvalidCloudState,
    "IncorrectModificationState": base.InvalidCloudState,
    "InvalidState": base.InvalidCloudState,
    "VolumeInUse": base.InvalidCloudState,
    "DependencyViolation": base.InvalidCloudState,
    "InvalidIPAddress.InUse": base.InvalidCloudState,
    "InvalidSnapshot.InUse": base.InvalidCloudState,
    "InvalidAttachment.NotFound": base.InvalidCloudState,  # the volume is not attached
    "Resource.AlreadyAssociated": base.InvalidCloudState,
    "UnsupportedOperation": base.InvalidCloudState,  # e.g. stopping an instance-store-backed instance
    # quotas (RequestLimitExceeded, a rate limit, is handled apart)
    "InstanceLimitExceeded": base.QuotaExceeded,
    "VcpuLimitExceeded": base.QuotaExceeded,
    "AddressLimitExceeded": base.QuotaExceeded,
    "VolumeLimitExceeded": base.QuotaExceeded,
    "SnapshotLimitExceeded": base.QuotaExceeded,
    "ResourceLimitExceeded": base.QuotaExceeded,
    "MaxIOPSLimitExceeded": base.QuotaExceeded,
    "SecurityGroupLimitExceeded": base.QuotaExceeded,
    "RulesPerSecurityGroupLimitExceeded": base.QuotaExceeded,
    "KeyPairLimitExceeded": base.QuotaExceeded,
    "LimitExceeded": base.QuotaExceeded,
    # the cloud cannot serve this now; later may work
    "InternalError": base.CloudUnavailable,
    "InternalFailure": base.CloudUnavailable,
    "ServiceUnavailable": base.CloudUnavailable,
    "Unavailable": base.CloudUnavailable,
    "InsufficientInstanceCapacity": base.CloudUnavailable,
    "InsufficientAddressCapacity": base.CloudUnavailable,
    "InsufficientCapacity": base.CloudUnavailable,
    "InsufficientFreeAddressesInSubnet": base.CloudUnavailable,
    "InsufficientReservedInstanceCapacity": base.CloudUnavailable,
    "InsufficientVolumeCapacity": base.CloudUnavailable,
    # things that do not exist, named by codes without the usual suffix
    "InvalidAMIID.Unavailable": base.CloudNotFound,
    "InvalidInstanceType": base.CloudNotFound,
}

# "InvalidInstanceID.Malformed", "InvalidGroupId.Malformed"...: an id that cannot name anything names nothing.
_MALFORMED_ID = re.compile(r"^Invalid\w*I[dD]\.Malformed$")
# What an error code looks like; anything else in its place is the other side's text, not a code.
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,79}$")


def _class_for(code: str, status: int) -> type[base.CloudError]:
    if code in THROTTLE_CODES:
        return base.Throttled
    known = _CODES.get(code)
    if known is not None:
        return known
    if code.endswith(".NotFound") or _MALFORMED_ID.match(code):
        return base.CloudNotFound
    if code.endswith("LimitExceeded"):
        return base.QuotaExceeded
    if status in (401, 403):
        return base.CloudAuthError
    if status >= 500:
        return base.CloudUnavailable
    # *.Duplicate, InvalidParameterValue, InvalidParameterCombination, MissingParameter, InvalidKeyPair.Format,
    # IdempotentParameterMismatch and every other refusal of the request as such.
    return base.InvalidCloudRequest


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of an SDK error, if it carries one."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def translate(exc: Exception, action: str) -> base.CloudError:
    """The contract's error for an SDK error raised by `action`; anything unrecognised is a `base.CloudUnavailable`."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if not _CODE.match(code):
            # An error page instead of EC2's error document (botocore then makes the status its "code").
            kind = _class_for("", status)
            kind = base.CloudUnavailable if kind is base.InvalidCloudRequest else kind
            return WORDS.error(kind, action, WORDS.said(Unanswered.UNEXPECTED, f"HTTP status {status}"))
        return WORDS.error(_class_for(code, status), action, code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return WORDS.error(base.CloudAuthError, action, "no or incomplete credentials")
    if isinstance(exc, ParamValidationError | NoRegionError):
        return WORDS.error(base.InvalidCloudRequest, action, str(exc))  # the SDK's words about our own request
    # botocore wraps what aiohttp raised in an HTTPClientError.
    return WORDS.no_answer(action, exc, exc.kwargs.get("error") if isinstance(exc, HTTPClientError) else None)


# What the SDK raises for a call gone wrong; anything else is a bug and is left to propagate.
SDK_ERRORS: tuple[type[Exception], ...] = (
    ClientError,
    BotoCoreError,
    ResponseParserError,
    aiohttp.ClientError,
    TimeoutError,
)

__all__ = ["SDK_ERRORS", "THROTTLE_CODES", "error_code", "translate"]
