"""The one place where openstacksdk and keystoneauth errors become the contract's error types."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

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

T = TypeVar("T")

_BY_STATUS: dict[int, type[CloudError]] = {
    400: InvalidCloudRequest,
    401: CloudAuthError,
    403: CloudAuthError,
    404: CloudNotFound,
    409: InvalidCloudState,
    413: QuotaExceeded,
    429: Throttled,
}


def _class_for_status(status: int | None, message: str) -> type[CloudError]:
    if status is None:
        return CloudUnavailable
    lowered = message.lower()
    if status == 403 and "quota" in lowered:
        return QuotaExceeded
    if status == 400 and ("status must be" in lowered or "dependent snapshots" in lowered):
        return InvalidCloudState  # Cinder refuses a busy volume or snapshot with 400 InvalidVolume
    if status == 409 and ("already exists" in lowered or "duplicate" in lowered):
        return InvalidCloudRequest  # Nova and Neutron answer a name taken with 409, like a state conflict
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return CloudUnavailable
    return InvalidCloudRequest


def translate(exc: Exception, action: str) -> CloudError:
    """The contract's error for what openstacksdk or keystoneauth raised while doing `action`."""
    if isinstance(exc, CloudError):
        return exc
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, sdk.SDKException) and not isinstance(exc, sdk.HttpException) and isinstance(cause, Exception):
        if isinstance(cause, ksa.ClientException | sdk.SDKException):
            return translate(cause, action)  # the SDK wraps keystoneauth's errors (a refused login) in its own
    if isinstance(exc, sdk.ResourceNotFound | sdk.NotFoundException):
        return CloudNotFound(f"OpenStack {action}: {exc}")
    if isinstance(exc, sdk.HttpException):
        status = exc.status_code
        message = str(exc.details or exc)
        return _class_for_status(status, message)(f"OpenStack {action}: HTTP {status}: {message}")
    if isinstance(exc, ksa.http.HttpError):
        return _class_for_status(exc.http_status, str(exc))(f"OpenStack {action}: {exc}")
    if isinstance(exc, ksa.AuthorizationFailure | ksa.Unauthorized | ksa.MissingAuthPlugin):
        return CloudAuthError(f"OpenStack {action}: {exc}")
    if isinstance(exc, ksa.ConnectionError | ksa.DiscoveryFailure | sdk.ServiceDiscoveryException):
        return CloudUnavailable(f"OpenStack {action}: {exc}")
    if isinstance(exc, sdk.EndpointNotFound):
        return CloudUnavailable(f"OpenStack {action}: {exc}")
    if isinstance(exc, ksa.ClientException | sdk.SDKException):
        return CloudUnavailable(f"OpenStack {action}: {exc}")
    raise exc


def guarded(action: str, call: Callable[[], T]) -> T:
    """Run `call` (blocking, in a worker thread), translating any SDK error."""
    try:
        return call()
    except (sdk.SDKException, ksa.ClientException) as exc:
        raise translate(exc, action) from exc
