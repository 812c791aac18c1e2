"""What a caller asks of the cost lines: the period, filters and grouping, checked; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kernel.errors import ValidationFailed
from services.billing.costs.repository import GROUPS, CostFilter

TAG = "tag:"
MAX_GROUPS = 4


def _refused(location: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{location.split('.')[-1]}: {message}.", errors=[{"location": location, "message": message}]
    )


@dataclass(frozen=True)
class Grouping:
    groups: tuple[str, ...]
    tag_keys: tuple[str, ...]


def grouping(asked: Sequence[str]) -> Grouping:
    """`day`, `cloud`, ... (GROUPS) and `tag:<key>`, at most MAX_GROUPS of them, none twice."""
    if len(asked) > MAX_GROUPS:
        raise _refused("query.group_by", f"at most {MAX_GROUPS} groupings")
    if len(set(asked)) != len(asked):
        raise _refused("query.group_by", "a grouping is named twice")
    groups, tags = [], []
    for item in asked:
        if item.startswith(TAG) and len(item) > len(TAG):
            tags.append(item[len(TAG) :])
        elif item in GROUPS:
            groups.append(item)
        else:
            raise _refused("query.group_by", f"one of {', '.join(GROUPS)} or tag:<key>, not {item[:40]!r}")
    return Grouping(tuple(groups), tuple(tags))


def cost_filter(
    project_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    cloud_id: str | None = None,
    resource_id: str | None = None,
    tag: str | None = None,
    cluster_id: str | None = None,
) -> CostFilter:
    """The filter of a request; `tag` is `key` (the lines carrying it) or `key=value`."""
    if start is not None and end is not None and end <= start:
        raise _refused("query.end", "must be after start")
    key, value = (tag.split("=", 1) + [None])[:2] if tag is not None else (None, None)
    if tag is not None and not key:
        raise _refused("query.tag", "key or key=value")
    return CostFilter(
        project_id=project_id,
        start=start,
        end=end,
        cloud_id=cloud_id,
        resource_id=resource_id,
        tag_key=key,
        tag_value=value,
        cluster_id=cluster_id,
    )


def period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if end <= start:
        raise _refused("body.end", "must be after start")
    return start, end


__all__ = ["Grouping", "cost_filter", "grouping", "period"]
