"""The one place where a cloud's errors become the API's: each adapter error type (`adapters.base`) maps to one
problem, and the problem of a cloud's own condition has the adapter error's name (`QuotaExceeded`, `Throttled`,
`CloudUnavailable`, `CloudAuthError`: the same thing, as the API tells it). The problem of any other cloud error is
`CloudFailed`, since `CloudError` is the adapters' base, which this module reads by that name.

| adapter error | HTTP | code |
|---|---|---|
| `UnsupportedOperation` | 501 | `unsupported_operation` |
| `CloudNotFound` | 404 `not_found`, or 422 `validation_failed` naming the field when the id came in the body |
| `InvalidCloudRequest` | 422 | `validation_failed` |
| `InvalidCloudState` | 409 | `invalid_state` |
| `QuotaExceeded` | 409 | `quota_exceeded` |
| `Throttled` | 503 + `Retry-After` | `throttled` |
| `CloudUnavailable` | 503 + `Retry-After` | `cloud_unavailable` |
| `CloudAuthError` | 502 | `cloud_auth_failed` |
| any other `CloudError` | 502 | `cloud_error` |

Not from a cloud: `ModuleIsDisabled` (409 `module_disabled`), the cloud's adapter module is disabled, and
`ModuleUnavailable` (409 `module_unavailable`), it cannot be loaded here (its SDK's extra is not installed, say).

A problem's detail, a record's `reason` and an event say of a cloud error only what `describe` gives: the adapter's
own words, which never carry what the other side sent (each adapter's `_errors.py` sees to that: fixed descriptions,
error codes, HTTP statuses), on one line and cut short. The whole chain, the SDK's exception with the answer it got,
goes to the log (`chain`).
"""

from __future__ import annotations

import logging
from typing import Any

from adapters import base as cloud_errors
from adapters.base import CloudError
from adapters.registry import Unavailable
from kernel.errors import (
    ClanaviError,
    Conflict,
    InvalidState,
    NotFound,
    NotImplementedByCloud,
    ServiceUnavailable,
    ValidationFailed,
)

log = logging.getLogger(__name__)

# A cloud error's words in an answer: enough for a code, a status and a sentence, never a page.
_LONGEST = 300


class QuotaExceeded(Conflict, code="quota_exceeded", title="The cloud account's quota is exhausted"): ...


class ProjectQuotaExceeded(Conflict, code="quota_exceeded", title="The project's guard-rails allow no more"):
    """A launch would exceed one of the project's quotas: `quotas` names each, with its limit, what is used and what
    the launch adds."""


class BudgetExceeded(Conflict, code="budget_exceeded", title="A budget blocks new launches"):
    """A budget of the project blocks launches within a scope this launch falls in (learned from the billing
    service's `budget.launches_blocked`): nothing was recorded. `budget_id`, `budget_name`, `scope` and `period` name
    it; raising the budget lifts the block."""


class ModuleIsDisabled(Conflict, code="module_disabled", title="The cloud's adapter module is disabled"):
    """The account's adapter module is disabled: nothing was recorded or called; enable the module to go on."""


class ModuleUnavailable(
    Conflict, code="module_unavailable", title="The adapter module cannot be loaded by the provisioner"
):
    """The adapter module is known but cannot be loaded in this provisioner: nothing was recorded or called.
    `module` names it, `reason` says why; `extra` names the `clanavi` extra that installs what it lacks."""


def module_unavailable(exc: Unavailable, *, cloud_id: str | None = None) -> ModuleUnavailable:
    """The problem of using a module the registry could not load."""
    subject = (
        f"Cloud {cloud_id} uses the {exc.driver} adapter module, which" if cloud_id else f"The {exc.driver} module"
    )
    remedy = f" Install clanavi[{exc.extra}] where the provisioner runs and restart it." if exc.extra else ""
    extensions: dict[str, Any] = {"module": exc.driver, "reason": exc.reason}
    if exc.extra is not None:
        extensions["extra"] = exc.extra
    if cloud_id is not None:
        extensions["cloud_id"] = cloud_id
    return ModuleUnavailable(f"{subject} cannot be loaded here ({exc.reason}); nothing was done.{remedy}", **extensions)


class RetryLater(ServiceUnavailable):
    """The cloud is busy or away: nothing was done; try again after `retry_after` seconds (sent as Retry-After)."""

    def __init__(self, detail: str, *, retry_after: float, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = max(1, round(retry_after))


class Throttled(RetryLater, code="throttled", title="The cloud is throttling requests"): ...


class CloudUnavailable(RetryLater, code="cloud_unavailable", title="The cloud did not answer"): ...


class CloudFailed(ClanaviError, code="cloud_error", status=502, title="The cloud failed the request"): ...


class CloudAuthError(CloudFailed, code="cloud_auth_failed", title="The cloud refused Clanavi's credentials"): ...


def retry_after(exc: CloudError) -> float:
    """Seconds the cloud asked us to wait (adapters may set `retry_after` on Throttled), else one."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def describe(exc: CloudError) -> str:
    """What an answer, a record or an event may say of a cloud error."""
    said = " ".join((str(exc) or type(exc).__name__).split())
    return said if len(said) <= _LONGEST else f"{said[: _LONGEST - 3]}..."


def chain(exc: BaseException) -> str:
    """An error and every error it came from, for the log."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return " <- ".join(f"{type(e).__name__}: {e}" for e in seen)


def from_cloud(
    exc: CloudError, *, cloud_id: str | None, field: str | None = None, invalid_field: str | None = None
) -> ClanaviError:
    """The API error for an adapter error; `field` names the body field whose id the cloud did not find,
    `invalid_field` the one a refused request most likely concerns."""
    log.info("cloud %s: %s", cloud_id or "?", chain(exc))
    detail = describe(exc)
    cloud = f"Cloud {cloud_id}" if cloud_id else "The cloud"
    if isinstance(exc, cloud_errors.UnsupportedOperation):
        return NotImplementedByCloud(
            f"{cloud} ({exc.driver}) does not support {exc.operation}.",
            operation=exc.operation,
        )
    if isinstance(exc, cloud_errors.CloudNotFound):
        if field is not None:
            return ValidationFailed(
                f"{cloud} does not have it: {detail}", errors=[{"location": field, "message": detail}]
            )
        return NotFound(f"{cloud} does not have it: {detail}")
    if isinstance(exc, cloud_errors.InvalidCloudRequest):
        errors = [{"location": invalid_field, "message": detail}] if invalid_field else []
        return ValidationFailed(f"{cloud} refused the request: {detail}", errors=errors)
    if isinstance(exc, cloud_errors.InvalidCloudState):
        return InvalidState(f"{cloud} refused it in the resource's current state: {detail}")
    if isinstance(exc, cloud_errors.QuotaExceeded):
        return QuotaExceeded(f"{cloud}'s quota is exhausted: {detail}")
    if isinstance(exc, cloud_errors.Throttled):
        return Throttled(f"{cloud} is throttling requests: {detail}", retry_after=retry_after(exc))
    if isinstance(exc, cloud_errors.CloudUnavailable):
        return CloudUnavailable(f"{cloud} did not answer: {detail}", retry_after=retry_after(exc))
    if isinstance(exc, cloud_errors.CloudAuthError):
        return CloudAuthError(f"{cloud} refused Clanavi's credentials: {detail}")
    return CloudFailed(f"{cloud} failed: {detail}")


def reason(exc: CloudError) -> str:
    """A failure in words for a record's `reason` and a `*.failed` event."""
    detail = describe(exc)
    if isinstance(exc, cloud_errors.QuotaExceeded):
        return f"The cloud's quota is exhausted: {detail}"
    if isinstance(exc, cloud_errors.Throttled):
        return f"The cloud kept throttling requests: {detail}"
    if exc.retryable:
        return f"The cloud kept failing: {detail}"
    return detail


__all__ = [
    "BudgetExceeded",
    "CloudAuthError",
    "CloudFailed",
    "CloudUnavailable",
    "ModuleIsDisabled",
    "ModuleUnavailable",
    "ProjectQuotaExceeded",
    "QuotaExceeded",
    "RetryLater",
    "Throttled",
    "chain",
    "describe",
    "from_cloud",
    "module_unavailable",
    "reason",
    "retry_after",
]
