"""A launch block, as the billing service's budget events leave it, and the rule of which launches it refuses. No
I/O.

A budget whose `block_launches` action fired blocks new launches within its scope (the whole project, the servers
with one tag, or one cluster) until billing lifts the block (the budget raised or removed, or a new month). The
provisioner keeps one row per budget with the newest event it applied: an event older than that row (an earlier
period, or an earlier moment of the same period) changes nothing, so a redelivered or overtaken event never lifts a
block or sets one again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.provisioner.errors import BudgetExceeded

ScopeKind = Literal["project", "tag", "cluster"]


@dataclass(frozen=True, slots=True)
class LaunchBlock:
    """A budget's last word on launches: `blocked` or not, as of its event at `changed_at` in `period`."""

    project_id: str
    budget_id: str
    budget_name: str
    scope_kind: ScopeKind
    tag_key: str | None
    tag_value: str | None
    cluster_id: str | None
    period: str
    reason: str
    blocked: bool
    changed_at: datetime
    event_id: str

    def covers(self, tags: Mapping[str, str], cluster_id: str | None) -> bool:
        """Whether a launch with `tags` (into `cluster_id`, for a cluster's member) falls within the block's scope."""
        if self.scope_kind == "project":
            return True
        if self.scope_kind == "tag":
            # A budget over a tag key without a value counts every server carrying the key, whatever its value.
            if self.tag_key is None or self.tag_key not in tags:
                return False
            return self.tag_value is None or tags[self.tag_key] == self.tag_value
        return cluster_id is not None and cluster_id == self.cluster_id

    def scope(self) -> dict[str, str]:
        """The scope as the API and the budget events spell it."""
        if self.scope_kind == "tag":
            scope = {"kind": "tag", "tag_key": self.tag_key or ""}
            return scope if self.tag_value is None else {**scope, "tag_value": self.tag_value}
        if self.scope_kind == "cluster":
            return {"kind": "cluster", "cluster_id": self.cluster_id or ""}
        return {"kind": "project"}

    def describe_scope(self) -> str:
        if self.scope_kind == "tag":
            if self.tag_value is None:
                return f"servers tagged {self.tag_key} (any value)"
            return f"servers tagged {self.tag_key}={self.tag_value}"
        if self.scope_kind == "cluster":
            return f"cluster {self.cluster_id}"
        return "the whole project"


def blocking(
    blocks: Iterable[LaunchBlock], *, tags: Mapping[str, str], cluster_id: str | None = None
) -> LaunchBlock | None:
    """The first active block (the oldest first, so the same launch is always refused the same way) covering a
    launch with `tags` into `cluster_id`; None when launching is allowed."""
    active = sorted((b for b in blocks if b.blocked), key=lambda b: (b.changed_at, b.budget_id))
    return next((b for b in active if b.covers(tags, cluster_id)), None)


def refusal(block: LaunchBlock) -> BudgetExceeded:
    """The 409 `budget_exceeded` of a launch the block refuses: which budget, what it covers, how to lift it."""
    return BudgetExceeded(
        f"Budget {block.budget_name!r} ({block.budget_id}) blocks new launches within {block.describe_scope()} for "
        f"{block.period}: {block.reason}. Nothing was launched. To launch again, raise the budget's amount (or "
        f"remove its block_launches action) in /v1/budgets/{block.budget_id}: launches are allowed again as soon "
        "as the billing service lifts the block. GET /v1/launch-blocks lists what blocks launches now.",
        budget_id=block.budget_id,
        budget_name=block.budget_name,
        scope=block.scope(),
        period=block.period,
    )


def check(blocks: Iterable[LaunchBlock], *, tags: Mapping[str, str], cluster_id: str | None = None) -> None:
    """Raise `budget_exceeded` for a launch an active block covers."""
    found = blocking(blocks, tags=tags, cluster_id=cluster_id)
    if found is not None:
        raise refusal(found)


__all__ = ["LaunchBlock", "ScopeKind", "blocking", "check", "refusal"]
