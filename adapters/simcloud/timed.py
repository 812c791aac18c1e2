"""Timed states of volumes, snapshots and images, stored as (state, target, due_at) like an instance's phase.

The resource reads `state` until `due_at`, then `target`; nothing runs in the background for time to pass.
"""

from __future__ import annotations

from datetime import datetime


def settled(state: str, target: str | None, due_at: datetime | None, now: datetime) -> str:
    """The state as it reads at `now`."""
    if target is not None and due_at is not None and due_at <= now:
        return target
    return state
