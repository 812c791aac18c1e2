"""Notification channels and their deliveries: a signed webhook (the Standard Webhooks specification), e-mail, or the
console's alerts page; the retry schedule of a delivery that failed. Pure rules, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

ChannelKind = Literal["webhook", "email", "console"]
DeliveryState = Literal["pending", "delivered", "failed"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix the Standard Webhooks spec gives secrets


@dataclass(frozen=True)
class Channel:
    id: str
    project_id: str
    name: str
    kind: ChannelKind
    url: str | None
    email_to: tuple[str, ...]
    enabled: bool
    disabled_reason: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    project_id: str
    channel_id: str
    body: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str
    created_at: datetime
    updated_at: datetime


def new_secret() -> str:
    """A webhook signing secret: `whsec_` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256, keyed with the secret's bytes, of
    `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Attempt:
    """What came of sending a delivery once: the receiver's status (None: no answer) and its Retry-After."""

    status: int | None
    error: str = ""
    retry_after_seconds: float | None = None


def after_attempt(d: Delivery, attempt: Attempt, schedule: Sequence[float], now: datetime) -> tuple[Delivery, bool]:
    """The delivery after an attempt, and whether its channel must be disabled (a 410 says the endpoint is gone).
    A 2xx delivers; anything else waits the schedule's next step (a 429's Retry-After when it gives one), and is
    given up once the schedule is spent."""
    attempts = d.attempts + 1
    status, error = attempt.status, attempt.error
    if status is not None and 200 <= status < 300:
        return _done(d, "delivered", attempts, status, "", now), False
    if status == 410:
        return _done(d, "failed", attempts, status, "the endpoint is gone (410): the channel was disabled", now), True
    if attempts > len(schedule):
        return _done(d, "failed", attempts, status, error or f"answered {status}", now), False
    wait = schedule[attempts - 1]
    if status == 429 and attempt.retry_after_seconds is not None:
        wait = attempt.retry_after_seconds
    retry = Delivery(
        **{
            **d.__dict__,
            "attempts": attempts,
            "last_status": status,
            "last_error": error or f"answered {status}",
            "next_attempt_at": now + timedelta(seconds=wait),
            "updated_at": now,
        }
    )
    return retry, False


def _done(d: Delivery, state: DeliveryState, attempts: int, status: int | None, error: str, now: datetime) -> Delivery:
    return Delivery(
        **{
            **d.__dict__,
            "state": state,
            "attempts": attempts,
            "last_status": status,
            "last_error": error,
            "next_attempt_at": None,
            "updated_at": now,
        }
    )


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (only the delay-seconds form; a date is ignored)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


__all__ = [
    "Attempt",
    "Channel",
    "ChannelKind",
    "Delivery",
    "after_attempt",
    "new_secret",
    "retry_after",
    "sign",
]
