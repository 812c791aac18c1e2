"""Five-field cron expressions (minute hour day-of-month month day-of-week) in an IANA time zone: parsing, and the
next time one fires. Day of month and day of week, when both are restricted, match either (as cron does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Cron", "CronError", "parse_cron", "time_zone"]

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
# A cron that matches no time in this many years never fires (29 February recurs within 8).
_HORIZON_DAYS = 366 * 9


class CronError(ValueError):
    """The expression or the time zone is not one cron understands, or the expression never fires."""


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first time after `after` the expression fires, in UTC; None if it never does. A wall time a daylight
        saving change skips is skipped."""
        local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        day = local.replace(hour=0, minute=0)
        for offset in range(_HORIZON_DAYS):
            current = day + timedelta(days=offset)
            if not self._day_matches(current):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    wall = current.replace(hour=hour, minute=minute)
                    if wall < local:
                        continue
                    aware = wall.replace(tzinfo=zone)
                    # A wall time that does not exist (the hour skipped in spring) does not survive the round trip.
                    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
                        continue
                    return aware.astimezone(UTC)
        return None


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r}") from exc


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        spec, _, step_text = part.partition("/")
        step = _number(step_text, names={}) if step_text else 1
        if step < 1:
            raise CronError(f"step {step_text!r} must be at least 1")
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(spec, names)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise CronError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number")
    return int(text)


def parse_cron(expression: str) -> Cron:
    fields = expression.split()
    if len(fields) != 5:
        raise CronError("a cron expression has five fields: minute hour day-of-month month day-of-week")
    minute, hour, dom, month, dow = fields
    weekdays = _field(dow, 0, 7, _DAYS)
    return Cron(
        minutes=_field(minute, 0, 59, {}),
        hours=_field(hour, 0, 23, {}),
        days=_field(dom, 1, 31, {}),
        months=_field(month, 1, 12, _MONTHS),
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=dom == "*",
        any_weekday=dow == "*",
    )
