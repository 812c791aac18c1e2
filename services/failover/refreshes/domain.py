"""Instance refresh: rolling replacement of a target's members to a new template version, a batch at a time, keeping
a minimum healthy share in service; a checkpoint pauses it; a new server failing its health checks rolls it back.
Pure rules; no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.failover.health.domain import GONE, Member, Watch, batch_size, in_grace

RefreshState = Literal["running", "paused", "completed", "rolled_back", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"running", "paused"})


@dataclass(frozen=True, slots=True)
class Refresh:
    id: str
    project_id: str
    policy_id: str
    template_id: str | None
    template_version: int
    min_healthy_percent: int
    checkpoint_percent: int | None
    state: RefreshState
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    reason: str = ""
    # old instance id -> the template version it ran (what a rollback returns to)
    old_versions: dict[str, int] = field(default_factory=dict)
    # old instance id -> its replacement, launched and not yet healthy past its grace period
    pending: dict[str, str] = field(default_factory=dict)
    # old instance id -> its replacement, healthy
    replaced: dict[str, str] = field(default_factory=dict)
    last_event_id: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True, slots=True)
class Step:
    """What a refresh does next: replace these members (old id -> new id), and/or end or pause."""

    launch: dict[str, str]
    settled: dict[str, str]
    outcome: Literal["continue", "checkpoint", "completed", "rollback"] = "continue"
    reason: str = ""


def next_step(
    refresh: Refresh,
    watched: Sequence[tuple[Watch, Member]],
    grace_seconds: int,
    now: datetime,
    new_ids: Sequence[str],
) -> Step:
    """The next step of a running refresh over the policy's watched members. `new_ids` are ids for the replacements
    this step may launch (taken in order)."""
    by_id: Mapping[str, tuple[Watch, Member]] = {m.instance_id: (w, m) for w, m in watched}
    settled: dict[str, str] = {}
    for old, new in refresh.pending.items():
        w, m = by_id.get(new, (None, None))
        if w is None or m is None:
            continue  # not requested yet as far as the events told
        if w.health == "unhealthy" or m.state in GONE:
            return Step(
                {}, {}, "rollback", f"replacement {new} of {old} failed its health checks: {'; '.join(w.reasons)}"
            )
        if w.health == "healthy" and not in_grace(m, grace_seconds, now):
            settled[old] = new
    pending = {k: v for k, v in refresh.pending.items() if k not in settled}
    replaced = {**refresh.replaced, **settled}
    fresh = set(pending.values()) | set(replaced.values())
    live = [m for _, m in watched if m.state not in GONE and m.instance_id not in fresh]
    old_members = sorted(
        (
            m
            for m in live
            if m.template_version != refresh.template_version
            and m.instance_id not in pending
            and m.instance_id not in replaced
        ),
        key=lambda m: (m.running_since or now, m.instance_id),
    )
    # The target's size: the members still to replace, those being replaced, and those replaced.
    total = len(old_members) + len(pending) + len(replaced)
    if not old_members and not pending:
        return Step({}, settled, "completed")
    room = batch_size(max(total, 1), refresh.min_healthy_percent) - len(pending)
    if refresh.checkpoint_percent is not None:
        # Up to the checkpoint and no further, until an operator lets it go on.
        cap = math.ceil(total * refresh.checkpoint_percent / 100)
        if not pending and len(replaced) >= cap:
            return Step({}, settled, "checkpoint")
        room = min(room, cap - len(replaced) - len(pending))
    launch = {m.instance_id: new for m, new in zip(old_members[: max(room, 0)], new_ids, strict=False)}
    return Step(launch, settled)
