"""The correlation id of the work in progress, carried from the HTTP request into logs and events."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Correlation-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current: ContextVar[str | None] = ContextVar("clanavi_correlation_id", default=None)


def accept_or_new(value: str | None) -> str:
    """The caller's correlation id when it is well formed, else a new one."""
    if value and _VALID.match(value):
        return value
    return str(uuid.uuid4())
