"""Silences (Alertmanager's meaning): while one is active, the alerts whose labels all its matchers match still show,
marked silenced, and send nothing. One is active between its start and end and, when recurring, only within its
weekly window in its own time zone. Pure rules, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Matcher:
    label: str
    value: str
    regex: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        found = labels.get(self.label, "")
        if self.regex:
            return re.fullmatch(self.value, found) is not None
        return found == self.value


@dataclass(frozen=True)
class Weekly:
    """A window that recurs each week on `days` (0 is Monday), from `start` for `duration_minutes`, in `time_zone`."""

    days: tuple[int, ...]
    start: time
    duration_minutes: int
    time_zone: str

    def covers(self, now: datetime) -> bool:
        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        # A window may run past midnight: yesterday's may still be open (at most a week long, so 7 days back).
        for back in range(0, 8):
            day: date = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, tzinfo=zone)
            if opens <= local < opens + timedelta(minutes=self.duration_minutes):
                return True
        return False

    def as_json(self) -> dict[str, Any]:
        return {
            "days": list(self.days),
            "start": self.start.strftime("%H:%M"),
            "duration_minutes": self.duration_minutes,
            "time_zone": self.time_zone,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Weekly:
        return cls(
            days=tuple(data["days"]),
            start=time.fromisoformat(data["start"]),
            duration_minutes=data["duration_minutes"],
            time_zone=data["time_zone"],
        )


@dataclass(frozen=True)
class Silence:
    id: str
    project_id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    weekly: Weekly | None = None

    def active(self, now: datetime) -> bool:
        if not self.starts_at <= now < self.ends_at:
            return False
        return self.weekly is None or self.weekly.covers(now)

    def state(self, now: datetime) -> str:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"

    def silences(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)


def silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> bool:
    return any(s.silences(labels, now) for s in silences)


def matchers_json(matchers: Sequence[Matcher]) -> list[dict[str, Any]]:
    return [{"label": m.label, "value": m.value, "regex": m.regex} for m in matchers]


__all__ = ["Matcher", "Silence", "Weekly", "matchers_json", "silenced"]
