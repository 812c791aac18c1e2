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

_CODES: dict[str, type[CloudError]] = {
    # credentials and permissions
    "AuthFailure": CloudAuthError,
    "UnauthorizedOperation": CloudAuthError,
    "InvalidClientTokenId": CloudAuthError,
    "SignatureDoesNotMatch": CloudAuthError,
    "IncompleteSignature": CloudAuthError,
    "MissingAuthenticationToken": CloudAuthError,
    "ExpiredToken": CloudAuthError,
    "RequestExpired": CloudAuthError,
    "AccessDenied": CloudAuthError,
    "AccessDeniedException": CloudAuthError,
    "OptInRequired": CloudAuthError,
    "PendingVerification": CloudAuthError,
    "Blocked": CloudAuthError,
    # the resource is there, but not in a state that allows this
    "IncorrectState": InvalidCloudState,
    "IncorrectInstanceState": InvalidCloudState,
    "IncorrectModificationState": InvalidCloudState,
    "InvalidState": InvalidCloudState,
    "VolumeInUse": InvalidCloudState,
    "DependencyViolation": InvalidCloudState,
    "InvalidIPAddress.InUse": InvalidCloudState,
    "InvalidSnapshot.InUse": InvalidCloudState,
    "InvalidAttachment.NotFound": InvalidCloudState,  # the volume is not attached
    "Resource.AlreadyAssociated": InvalidCloudState,
    "UnsupportedOperation": InvalidCloudState,  # e.g. stopping an instance-store-backed instance
    # quotas (RequestLimitExceeded, a rate limit, is handled apart)
    "InstanceLimitExceeded": QuotaExceeded,
    "VcpuLimitExceeded": QuotaExceeded,
    "AddressLimitExceeded": QuotaExceeded,
    "VolumeLimitExceeded": QuotaExceeded,
    "SnapshotLimitExceeded": QuotaExceeded,
    "ResourceLimitExceeded": QuotaExceeded,
    "MaxIOPSLimitExceeded": QuotaExceeded,
    "SecurityGroupLimitExceeded": QuotaExceeded,
    "RulesPerSecurityGroupLimitExceeded": QuotaExceeded,
    "KeyPairLimitExceeded": QuotaExceeded,
    "LimitExceeded": QuotaExceeded,
    # the cloud cannot serve this now; later may work
    "InternalError": CloudUnavailable,
    "InternalFailure": CloudUnavailable,
    "ServiceUnavailable": CloudUnavailable,
    "Unavailable": CloudUnavailable,
    "InsufficientInstanceCapacity": CloudUnavailable,
    "InsufficientAddressCapacity": CloudUnavailable,
    "InsufficientCapacity": CloudUnavailable,
    "InsufficientFreeAddressesInSubnet": CloudUnavailable,
    "InsufficientReservedInstanceCapacity": CloudUnavailable,
    "InsufficientVolumeCapacity": CloudUnavailable,
    # things that do not exist, named by codes without the usual suffix
    "InvalidAMIID.Unavailable": CloudNotFound,
    "InvalidInstanceType": CloudNotFound,
}

# "InvalidInstanceID.Malformed", "InvalidGroupId.Malformed"...: an id that cannot name anything names nothing.
_MALFORMED_ID = re.compile(r"^Invalid\w*I[dD]\.Malformed$")
# What an error code looks like; anything else in its place is the other side's text, not a code.
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,79}$")


def _class_for(code: str, status: int) -> type[CloudError]:
    if code in THROTTLE_CODES:
        return Throttled
    known = _CODES.get(code)
    if known is not None:
        return known
    if code.endswith(".NotFound") or _MALFORMED_ID.match(code):
        return CloudNotFound
    if code.endswith("LimitExceeded"):
        return QuotaExceeded
    if status in (401, 403):
        return CloudAuthError
    if status >= 500:
        return CloudUnavailable
    # *.Duplicate, InvalidParameterValue, InvalidParameterCombination, MissingParameter, InvalidKeyPair.Format,
    # IdempotentParameterMismatch and every other refusal of the request as such.
    return InvalidCloudRequest


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of an SDK error, if it carries one."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def translate(exc: Exception, action: str) -> CloudError:
    """The contract's error for an SDK error raised by `action`; anything unrecognised is a `CloudUnavailable`."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if not _CODE.match(code):
            # An error page instead of EC2's error document (botocore then makes the status its "code").
            kind = _class_for("", status)
            kind = CloudUnavailable if kind is InvalidCloudRequest else kind
            return WORDS.error(kind, action, WORDS.said(Unanswered.UNEXPECTED, f"HTTP status {status}"))
        return WORDS.error(_class_for(code, status), action, code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return WORDS.error(CloudAuthError, action, "no or incomplete credentials")
    if isinstance(exc, ParamValidationError | NoRegionError):
        return WORDS.error(InvalidCloudRequest, action, str(exc))  # the SDK's words about our own request
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
