"""Usage from lifecycle facts, and its rating into cost lines; no I/O.

A resource's facts (it began to be billed, stopped being billed, or ended) are kept, never edited, in the order they
happened (`at`, the event's `occurred_at`), whatever the order they were delivered in. Its usage is worked out from
all of them each time: intervals from a start to the next stop, cut at each UTC hour and where a price version takes
over. Each part is a cost line keyed by (resource, component, start); what was already rated under a key is
compared with what is due now, and only the difference is written: a key not rated before gets a regular line, one
rated before gets a Correction line (a late event changed its past). Replaying the same facts changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from services.billing.catalogs.domain import HOURS_A_MONTH, PriceBook, Version

HOUR = timedelta(hours=1)
SECONDS_AN_HOUR = Decimal(3600)
# Cost lines keep this many digits after the point; sums of them stay exact.
QUANTUM = Decimal("1e-12")
# The shortest time a start is billed for, by the cloud's adapter module (EC2: per second after the first minute).
MINIMUM_SECONDS = {"ec2": 60}


class Kind(StrEnum):
    INSTANCE = "instance"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    ADDRESS = "address"


class Change(StrEnum):
    """What a fact says of billing: it begins (running, created), pauses (stopped) or ends for good."""

    ON = "on"
    OFF = "off"
    END = "end"


# At the same moment, a stop before a start before an end: the order never depends on delivery.
_ORDER = {Change.OFF: 0, Change.ON: 1, Change.END: 2}

SERVICE_NAMES = {
    Kind.INSTANCE: "Compute",
    Kind.VOLUME: "Block Storage",
    Kind.SNAPSHOT: "Block Storage Snapshots",
    Kind.ADDRESS: "Public IP Addresses",
}


@dataclass(frozen=True, slots=True)
class Fact:
    at: datetime
    change: Change
    # The flavor an instance runs as from then on.
    flavor_id: str | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """What billing knows of a resource, from its events: what it is charged by and what it is shown under."""

    id: str
    kind: Kind
    project_id: str
    cloud_id: str
    name: str = ""
    flavor_id: str | None = None
    image_id: str | None = None
    size_gb: int = 0
    region: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    cluster_id: str | None = None
    template_id: str | None = None
    scaling_group_id: str | None = None


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    # None: still billed now.
    end: datetime | None
    flavor_id: str | None


def intervals(facts: Iterable[Fact]) -> list[Interval]:
    """The billed intervals of a resource: from each start to the next stop or end; nothing after its end."""
    found: list[Interval] = []
    start: Fact | None = None
    for fact in sorted(facts, key=lambda f: (f.at, _ORDER[f.change])):
        if fact.change is Change.ON:
            if start is None:
                start = fact
            continue
        if start is not None:
            found.append(Interval(start.at, fact.at, start.flavor_id))
            start = None
        if fact.change is Change.END:
            return found
    if start is not None:
        found.append(Interval(start.at, None, start.flavor_id))
    return found


@dataclass(frozen=True, slots=True)
class Line:
    """One cost line: a part of a resource's usage, or a correction of one."""

    key_start: datetime
    component: str
    start: datetime
    end: datetime
    seconds: Decimal
    pricing_unit: str
    pricing_quantity: Decimal
    unit_price: Decimal | None
    cost: Decimal
    currency: str
    price_version: int | None
    correction: bool = False


@dataclass(frozen=True, slots=True)
class Rated:
    """What was already rated under one key: the sums of its lines."""

    seconds: Decimal
    pricing_quantity: Decimal
    cost: Decimal
    end: datetime
    currency: str


def _cuts(start: datetime, end: datetime, changes: Sequence[datetime]) -> list[datetime]:
    """`start`, every UTC hour and price change strictly inside, and `end`."""
    points = {start, end}
    hour = start.replace(minute=0, second=0, microsecond=0) + HOUR
    while hour < end:
        points.add(hour)
        hour += HOUR
    points.update(c for c in changes if start < c < end)
    return sorted(points)


def _components(resource: Resource, flavor_id: str | None) -> list[tuple[str, str, str, bool]]:
    """(component, price kind, item, own item only) of what a resource pays while billed."""
    if resource.kind is Kind.INSTANCE:
        parts = [("compute", "flavor", flavor_id or resource.flavor_id or "", True)]
        if resource.image_id:
            parts.append(("image", "image", resource.image_id, True))
        return parts
    return [(resource.kind.value, resource.kind.value, "", False)]


def due(
    resource: Resource,
    facts: Iterable[Fact],
    book: PriceBook,
    *,
    until: datetime,
    minimum_seconds: int = 0,
    currency: str = "USD",
) -> dict[tuple[str, datetime], Line]:
    """The lines a resource's usage is due, by (component, start): every closed interval, and an open one up to the
    last UTC hour by `until` (the hour under way is rated when it ends or the interval closes). A closed interval
    shorter than `minimum_seconds` pays the minimum on its last part."""
    lines: dict[tuple[str, datetime], Line] = {}
    horizon = until.replace(minute=0, second=0, microsecond=0)
    changes = book.changes()
    for interval in intervals(facts):
        end = interval.end if interval.end is not None else horizon
        if end <= interval.start:
            continue
        cuts = _cuts(interval.start, end, changes)
        short = Decimal(0)
        if interval.end is not None and minimum_seconds:
            short = max(Decimal(0), Decimal(minimum_seconds) - _seconds(interval.start, interval.end))
        for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
            seconds = _seconds(a, b) + (short if n == len(cuts) - 2 else 0)
            version = book.in_force(a)
            for component, price_kind, item, own in _components(resource, interval.flavor_id):
                if component == "image" and (
                    version is None or version.price("image", resource.region, item, own=own) is None
                ):
                    continue  # an image without a price of its own adds nothing
                lines[(component, a)] = _line(
                    resource, component, price_kind, item, own, a, b, seconds, version, currency
                )
    return lines


def _line(
    resource: Resource,
    component: str,
    price_kind: str,
    item: str,
    own: bool,
    start: datetime,
    end: datetime,
    seconds: Decimal,
    version: Version | None,
    currency: str,
) -> Line:
    price = version.price(price_kind, resource.region, item, own=own) if version else None
    if price_kind in ("volume", "snapshot"):
        unit, quantity = "GB-Months", Decimal(resource.size_gb) * seconds / SECONDS_AN_HOUR / HOURS_A_MONTH
    else:
        unit, quantity = "Hours", seconds / SECONDS_AN_HOUR
    quantity = quantity.quantize(QUANTUM)
    cost = (price.amount * quantity).quantize(QUANTUM) if price else Decimal(0)
    return Line(
        key_start=start,
        component=component,
        start=start,
        end=end,
        seconds=seconds,
        pricing_unit=unit,
        pricing_quantity=quantity,
        unit_price=price.amount if price else None,
        cost=cost,
        currency=version.currency if version else currency,
        price_version=version.version if version and price else None,
    )


def _seconds(a: datetime, b: datetime) -> Decimal:
    delta = b - a
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


def differences(
    due_now: Mapping[tuple[str, datetime], Line], rated: Mapping[tuple[str, datetime], Rated]
) -> list[Line]:
    """The lines to write so that what is rated under each key becomes what is due: a new key's line as it is, a
    changed key's difference as a Correction (a key no longer due is corrected to nothing)."""
    out: list[Line] = []
    for key, line in due_now.items():
        before = rated.get(key)
        if before is None:
            out.append(line)
        elif (before.cost, before.seconds, before.pricing_quantity) != (line.cost, line.seconds, line.pricing_quantity):
            out.append(
                Line(
                    key_start=line.key_start,
                    component=line.component,
                    start=line.start,
                    end=line.end,
                    seconds=line.seconds - before.seconds,
                    pricing_unit=line.pricing_unit,
                    pricing_quantity=line.pricing_quantity - before.pricing_quantity,
                    unit_price=line.unit_price,
                    cost=line.cost - before.cost,
                    currency=line.currency,
                    price_version=line.price_version,
                    correction=True,
                )
            )
    for (component, start), before in rated.items():
        if (component, start) in due_now or not (before.cost or before.seconds or before.pricing_quantity):
            continue
        out.append(
            Line(
                key_start=start,
                component=component,
                start=start,
                end=before.end,
                seconds=-before.seconds,
                pricing_unit="GB-Months" if component in ("volume", "snapshot") else "Hours",
                pricing_quantity=-before.pricing_quantity,
                unit_price=None,
                cost=-before.cost,
                currency=before.currency,
                price_version=None,
                correction=True,
            )
        )
    return out


__all__ = [
    "MINIMUM_SECONDS",
    "SERVICE_NAMES",
    "Change",
    "Fact",
    "Interval",
    "Kind",
    "Line",
    "Rated",
    "Resource",
    "differences",
    "due",
    "intervals",
]
