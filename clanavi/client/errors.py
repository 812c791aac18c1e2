"""What the client raises. The API's refusals arrive as RFC 9457 problem JSON and become one `ApiError` each, of the
class its status (or, for a few, its `code`) names; everything else the client raises derives from `ClientError` too.

The client keeps its own classes rather than the services' (`kernel.errors`): those are one class per code with the
status fixed on the class, while an answer's status and code are data, and codes a newer server adds must still land
in a class by their status."""

from __future__ import annotations

import email.utils
import http
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kernel import correlation

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientError",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "FieldError",
    "Forbidden",
    "InvalidAnswer",
    "InvalidState",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "Unsupported",
    "ValidationFailed",
    "WaitFailed",
    "WaitTimeout",
    "error_from",
    "retry_after",
]

# The problem members the client reads; every other member is kept in `extensions`.
_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance", "correlation_id", "errors"})


class ClientError(Exception):
    """Base of every error the client raises."""


class ConfigurationError(ClientError):
    """The client was not given what it needs (a URL, credentials), or was given something unusable."""


class ConnectionFailed(ClientError):
    """The API could not be reached, or the connection broke before its answer, and retrying did not help."""

    def __init__(self, method: str, url: str, words: str) -> None:
        super().__init__(f"{method} {url}: {words}")
        self.method, self.url, self.words = method, url, words


class InvalidAnswer(ClientError):
    """A success answer that is not what the operation answers: the server speaks another version of the API."""

    def __init__(self, method: str, url: str, status: int) -> None:
        super().__init__(f"{method} {url}: the answer ({status}) is not what this client expects")
        self.method, self.url, self.status = method, url, status


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of a refused request: `location` is where it was (`body.flavor_id`, `query.limit`)."""

    location: str
    message: str = ""
    type: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.message else self.location


class ApiError(ClientError):
    """The API refused a request. `detail` is the API's sentence for a person, `code` the stable machine-readable
    code, `errors` the bad fields; `correlation_id` ties it to the platform's logs and audit."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        correlation_id: str | None = None,
        instance: str | None = None,
        retry_after: float | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.errors = tuple(errors)
        self.correlation_id, self.instance, self.retry_after = correlation_id, instance, retry_after
        self.extensions: Mapping[str, Any] = dict(extensions or {})
        super().__init__(self._line())

    def _line(self) -> str:
        line = f"{self.status} {self.code}: {self.detail}"
        if self.errors:
            line += " (" + "; ".join(str(e) for e in self.errors) + ")"
        return line


class BadRequest(ApiError): ...


class Unauthorized(ApiError):
    """Missing, wrong, expired or revoked credentials: log in again."""


class Forbidden(ApiError):
    """The caller's role does not allow this."""


class NotFound(ApiError):
    """No such object or route, or one of another project (the API never tells the two apart)."""


class Conflict(ApiError): ...


class InvalidState(Conflict):
    """The resource's state does not allow the action (code `invalid_state`)."""


class QuotaExceeded(Conflict):
    """The cloud's quota is exhausted (code `quota_exceeded`)."""


class PayloadTooLarge(ApiError): ...


class ValidationFailed(ApiError):
    """The request is not valid; `errors` names each bad field."""


class RateLimited(ApiError):
    """Too many requests, and waiting as long as `retry_after` says did not fit the client's retry budget."""


class ServerError(ApiError):
    """The platform or a cloud behind it failed (5xx)."""


class Unsupported(ServerError):
    """The cloud's adapter does not do this operation (501 `unsupported_operation`)."""


class ServiceUnavailable(ServerError):
    """A service behind the gateway is unreachable, or the cloud throttles or does not answer (503)."""


_BY_CODE: dict[str, type[ApiError]] = {"invalid_state": InvalidState, "quota_exceeded": QuotaExceeded}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    501: Unsupported,
    503: ServiceUnavailable,
}


def _class_of(status: int, code: str) -> type[ApiError]:
    by_code = _BY_CODE.get(code)
    if by_code is not None and by_code.__mro__[1] is _BY_STATUS.get(status):
        return by_code
    return _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)


def retry_after(response: httpx.Response, *, now: float) -> float | None:
    """The seconds the answer asks to wait: `Retry-After` as seconds or as an HTTP date (against `now`, Unix
    time), never less than zero; None without the header or when it cannot be read."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/problem+json", "application/json"):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return None
    return body


def _field_errors(value: object) -> list[FieldError]:
    if not isinstance(value, list):
        return []
    return [
        FieldError(str(e.get("location", "")), str(e.get("message", "")), str(e.get("type", "")))
        for e in value
        if isinstance(e, dict)
    ]


def error_from(response: httpx.Response, *, now: float) -> ApiError:
    """The error an answer of status 400 or more means. Only a problem document's members are read: any other body
    (an HTML page of a proxy) is described in fixed words and never repeated."""
    status = response.status_code
    wait = retry_after(response, now=now)
    cid = response.headers.get(correlation.HEADER)
    body = _problem(response)
    if body is None:
        phrase = _phrase(status)
        return _class_of(status, "")(
            status=status,
            code="http_error",
            title=phrase,
            detail=f"The server answered {status} {phrase} without a problem document.",
            correlation_id=cid,
            retry_after=wait,
        )
    code = str(body["code"])
    extensions = {k: v for k, v in body.items() if k not in _MEMBERS}
    if wait is None and isinstance(extensions.get("retry_after"), int | float):
        wait = max(0.0, float(extensions["retry_after"]))
    return _class_of(status, code)(
        status=status,
        code=code,
        title=str(body.get("title") or _phrase(status)),
        detail=str(body.get("detail") or body.get("title") or _phrase(status)),
        errors=_field_errors(body.get("errors")),
        correlation_id=str(body["correlation_id"]) if body.get("correlation_id") else cid,
        instance=str(body["instance"]) if body.get("instance") else None,
        retry_after=wait,
        extensions=extensions,
    )


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class WaitTimeout(ClientError):
    """What was waited for did not all reach the states asked for in time; `records` are the last seen."""

    def __init__(self, what: str, records: Sequence[Any], targets: Sequence[str], timeout: float) -> None:
        late = [r for r in records if _state(r) not in targets]
        shown = ", ".join(f"{getattr(r, 'id', '?')} {_state(r)}" for r in late[:5])
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        wanted = " or ".join(targets)
        super().__init__(f"not {wanted} after {timeout:g} s: {what} {shown}{more}")
        self.what, self.records, self.targets, self.timeout = what, list(records), tuple(targets), timeout


class WaitFailed(ClientError):
    """Something waited for reached a state it cannot leave for the ones asked for (`error`, `terminated`...)."""

    def __init__(self, what: str, record: Any, targets: Sequence[str]) -> None:
        state = _state(record)
        reason = getattr(record, "reason", None) or getattr(record, "error", None)
        because = f": {reason}" if reason else ""
        super().__init__(f"{what} {getattr(record, 'id', '?')} is {state}, not {' or '.join(targets)}{because}")
        self.what, self.record, self.state, self.targets = what, record, state, tuple(targets)


def _state(record: Any) -> str:
    return str(getattr(record, "state", None) or getattr(record, "status", "?"))
