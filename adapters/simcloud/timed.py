"""Timed states of volumes, snapshots and images, stored as (state, target, due_at) like an instance's phase.

The resource reads `state` until `due_at`, then `target`; nothing runs in the background for time to pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def settled(row: Mapping[str, Any], now: datetime) -> str:
    """The state of a row with a timed state (its `state`, `target_state` and `due_at`) as it reads at `now`."""
    target: str | None = row["target_state"]
    due_at: datetime | None = row["due_at"]
    if target is not None and due_at is not None and due_at <= now:
        return target
    return str(row["state"])
