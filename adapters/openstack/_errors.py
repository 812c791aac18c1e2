"""The one place where openstacksdk and keystoneauth errors become the contract's error types.

Their words are ours: an action, an HTTP status, and a fixed description of what went wrong. Never what the other side
sent (an error document's message, a page, a banner): an endpoint that is not OpenStack must not have its answers read
back through Clanavi's. The SDK's exception, with all of it, is chained for the log. The other side's words still
decide between types (Nova says "quota" in a 403), without being repeated.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from adapters import base
from adapters.kit import AUTH_FAILED, Unanswered, Words

# By HTTP status, as Nova and Cinder name their error bodies (wsgi.Fault: badRequest, unauthorized, forbidden,
# itemNotFound, badMethod, conflictingRequest, overLimit, badMediaType, notImplemented, serviceUnavailable, else
# computeFault), Neutron its NeutronError types, Glance and Keystone their statuses; the words decide within a status.
_BY_STATUS: dict[int, type[base.CloudError]] = {
    400: base.InvalidCloudRequest,
    401: base.CloudAuthError,
    403: base.CloudAuthError,
    404: base.CloudNotFound,
    # A proxy or the service gave up waiting for the request: sending it again may work.
    408: base.CloudUnavailable,
    409: base.InvalidCloudState,
    410: base.CloudNotFound,
    413: base.QuotaExceeded,
    429: base.Throttled,
    # notImplemented: the cloud's driver cannot do this (Nova suspending a bare metal server); no retry will.
    501: base.InvalidCloudRequest,
}


# Nova's 403 for a limit reached: "Quota exceeded for cores: ...", "Maximum number of ports exceeded",
# "Maximum number of metadata items exceeds 128", "Quota exceeded, too many key pairs.".
_LIMIT_WORDS = re.compile(r"quota|maximum number of|exceed|\blimits?\b")


def _class_for_status(status: int | None, message: str, *, retry_after: float | None = None) -> type[base.CloudError]:
    if status is None:
        return base.CloudUnavailable
    lowered = message.lower()
    if status == 403 and _LIMIT_WORDS.search(lowered):
        return base.QuotaExceeded
    if status == 409 and ("overquota" in lowered or "quota exceeded" in lowered):
        return base.QuotaExceeded  # Neutron's OverQuota is a 409
    if status == 413 and retry_after and not _LIMIT_WORDS.search(lowered):
        # Nova's rate limit ("overLimit") is a 413 that says when to come back; Cinder's quota errors are 413s too,
        # that say "Retry-After: 0" ("Maximum number of snapshots allowed (10) exceeded").
        return base.Throttled
    if status == 400 and ("status must be" in lowered or "dependent snapshots" in lowered):
        return base.InvalidCloudState  # Cinder refuses a busy volume or snapshot with 400 InvalidVolume
    if status == 409 and ("already exists" in lowered or "duplicate" in lowered):
        return base.InvalidCloudRequest  # Nova and Neutron answer a name taken with 409, like a state conflict
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return base.CloudUnavailable
    return base.InvalidCloudRequest


WORDS = Words(
    "OpenStack",
    unanswered=(
        (ksa.ConnectTimeout, Unanswered.TIMED_OUT),
        (ksa.SSLError, Unanswered.TLS),
        (ksa.ConnectFailure, Unanswered.CONNECT),
        (ksa.DiscoveryFailure, "not an OpenStack identity endpoint (no API version found)"),
        (
            (ksa.EndpointNotFound, sdk.EndpointNotFound, sdk.ServiceDiscoveryException),
            "the service catalogue names no endpoint for the service",
        ),
        ((sdk.InvalidResponse, ksa.InvalidResponse), Unanswered.UNEXPECTED),
    ),
)

# What openstacksdk and keystoneauth raise for a call gone wrong; anything else is a bug and is left to propagate.
SDK_ERRORS: tuple[type[Exception], ...] = (sdk.SDKException, ksa.ClientException)


def _retry_after(response: Any) -> float | None:
    """Seconds an answer's Retry-After asks for (a number of seconds or an HTTP date), None when it names none."""
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - datetime.now(UTC).timestamp()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _neutron_type(response: Any) -> str:
    """Neutron's error type ("OverQuota"), which the SDK leaves out of the exception's details."""
    try:
        body = response.json()
    except (ValueError, AttributeError):  # not JSON, or no answer at all
        return ""
    error = body.get("NeutronError") if isinstance(body, dict) else None
    return str(error.get("type") or "") if isinstance(error, dict) else ""


def _http_error(status: int | None, message: str, response: Any, action: str, said: str) -> base.CloudError:
    retry_after = _retry_after(response) if status in (413, 429) else None
    words = f"{_neutron_type(response)} {message}" if response is not None else message
    kind = _class_for_status(status, words, retry_after=retry_after)
    error = WORDS.error(kind, action, said)
    if retry_after is not None and kind is base.Throttled:
        # The provisioner reads it back (services/provisioner/errors.py's `retry_after`) for its own Retry-After.
        error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def translate(exc: Exception, action: str) -> base.CloudError:
    """The contract's error for what openstacksdk or keystoneauth raised while doing `action`."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, sdk.SDKException) and not isinstance(exc, sdk.HttpException) and isinstance(cause, Exception):
        if isinstance(cause, SDK_ERRORS):
            return translate(cause, action)  # the SDK wraps keystoneauth's errors (a refused login) in its own
    if isinstance(exc, sdk.ResourceNotFound) and exc.response is None:
        return WORDS.error(base.CloudNotFound, action, str(exc))  # the SDK's own words: nothing has that name or id
    if isinstance(exc, sdk.HttpException):
        status = exc.status_code
        said = f"HTTP {status}" if status else WORDS.failure(exc)
        return _http_error(status, str(exc.details or exc), exc.response, action, said)
    if isinstance(exc, ksa.http.HttpError):
        return _http_error(exc.http_status, str(exc), exc.response, action, f"HTTP {exc.http_status}")
    if isinstance(exc, ksa.AuthorizationFailure | ksa.Unauthorized | ksa.MissingAuthPlugin):
        return WORDS.error(base.CloudAuthError, action, AUTH_FAILED)
    return WORDS.no_answer(action, exc)
