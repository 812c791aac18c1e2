"""Error answers as each OpenStack service words them, with the headers that come with them.

Nova and Cinder wrap an error in an object named after its HTTP status (their `wsgi.Fault`), and add `retryAfter`
to a 413 or 429 that says Retry-After; Neutron answers `{"NeutronError": {"type", "message", "detail"}}`; Glance
answers a plain object. Quota errors differ by service: Nova turns its OverQuota into 403 forbidden, Neutron's
OverQuota is a 409, Cinder's QuotaError family is a 413 overLimit that says `Retry-After: 0`.
"""

from __future__ import annotations

from typing import Any


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


# nova.api.openstack.wsgi.Fault._fault_names (Cinder's is the same table); any other status is a computeFault.
FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def fault(status: int, message: str, *, retry_after: int | None = None) -> HttpError:
    """Nova's (and Cinder's) error answer: the body named by the status, `retryAfter` beside a Retry-After header."""
    body: dict[str, Any] = {"code": status, "message": message}
    headers: dict[str, str] = {}
    if retry_after is not None and status in (413, 429):
        body["retryAfter"] = str(retry_after)
        headers["Retry-After"] = str(retry_after)
    return HttpError(status, {FAULT_NAMES.get(status, "computeFault"): body}, headers)


def nova_error(status: int, kind: str, message: str) -> HttpError:
    """A Nova error whose fault name the caller states (it is always the status's own, as `fault` would name it)."""
    assert FAULT_NAMES.get(status, "computeFault") == kind, (status, kind)
    return fault(status, message)


def neutron_error(status: int, kind: str, message: str) -> HttpError:
    return HttpError(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}})


def nova_over_quota(message: str) -> HttpError:
    """Nova's OverQuota family (TooManyInstances, KeypairLimitExceeded, MetadataLimitExceeded...), which its API
    turns into 403 forbidden."""
    return fault(403, message)


def neutron_over_quota(resource: str) -> HttpError:
    """neutron_lib.exceptions.OverQuota: a Conflict naming the resources over their quota."""
    return neutron_error(409, "OverQuota", f"Quota exceeded for resources: ['{resource}'].")


def cinder_over_quota(message: str) -> HttpError:
    """cinder.exception.QuotaError and its kind (VolumeLimitExceeded, SnapshotLimitExceeded,
    VolumeSizeExceedsAvailableQuota): code 413 with `Retry-After: 0`."""
    return fault(413, message, retry_after=0)


__all__ = [
    "FAULT_NAMES",
    "HttpError",
    "cinder_over_quota",
    "fault",
    "neutron_error",
    "neutron_over_quota",
    "nova_error",
    "nova_over_quota",
]
