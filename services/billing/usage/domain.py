"""Usage from lifecycle facts, and its rating into cost lines; no I/O.

A resource's facts (it began to be billed, stopped being billed, or ended) are kept, never edited, in the order they
happened (`at`, the event's `occurred_at`), whatever the order they were delivered in. Its usage is worked out from
all of them each time: intervals from a start to the next stop, cut at each UTC hour and where a price version takes
over. Each part is a cost line keyed by (resource, component, start); what was already rated under a key is
compared with what is due now, and only the difference is written: a key not rated before gets a regular line, one
rated before gets a Correction line (a late event changed its past). Replaying the same facts changes nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from services.billing.catalogs.domain import HOURS_A_MONTH, Price, PriceBook, Version, microseconds, moment

# Instants are cut and durations counted in whole microseconds since the epoch (`microseconds`): integers, exact.
_MICROSECONDS_A_SECOND = 1_000_000
_HOUR = 3600 * _MICROSECONDS_A_SECOND
# Cost lines keep this many digits after the point; sums of them stay exact. A quantity or a cost is worked out in
# whole units of the last place, with one rounding (half to even, as Decimal's quantize), and becomes a Decimal only
# in the line.
PLACES = 12
_UNIT = 10**PLACES
_MONTH_NUMERATOR, _MONTH_DENOMINATOR = HOURS_A_MONTH.as_integer_ratio()
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


# Intervals and lines are named tuples rather than dataclasses: rating makes one of each per part of every resource's
# usage, and a frozen dataclass of a line's twelve fields takes several times as long to make.
class Interval(NamedTuple):
    start: datetime
    # None: still billed now.
    end: datetime | None
    flavor_id: str | None


def _in_order(fact: Fact) -> tuple[datetime, int]:
    return fact.at, _ORDER[fact.change]


def intervals(facts: Iterable[Fact]) -> list[Interval]:
    """The billed intervals of a resource: from each start to the next stop or end; nothing after its end."""
    found: list[Interval] = []
    start: Fact | None = None
    for fact in sorted(facts, key=_in_order):
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


class Line(NamedTuple):
    """One cost line: a part of a resource's usage, priced. Its amounts are exact integers (microseconds billed,
    units of the last place kept), made the Decimals a line is written with (`seconds`, `pricing_quantity`, `cost`)
    only when it is written or compared with what was rated under its key: a rating works out every part of a
    resource's usage each time, and writes few of them."""

    key_start: datetime
    component: str
    start: datetime
    end: datetime
    # The part's own length, and what it is billed more to make up a cloud's minimum (on a short run's last part).
    length: int
    extra: int
    pricing_unit: str
    # Units of the last place kept (1e-PLACES).
    quantity: int
    unit_price: Decimal | None
    # None: unpriced (costs 0).
    cost_units: int | None
    currency: str
    price_version: int | None

    @property
    def correction(self) -> bool:
        return False

    @property
    def seconds(self) -> Decimal:
        # Summed as Decimals, a short run's seconds keep the places its own had.
        return _seconds(self.length) + _seconds(self.extra) if self.extra else _seconds(self.length)

    @property
    def pricing_quantity(self) -> Decimal:
        return _places(self.quantity)

    @property
    def cost(self) -> Decimal:
        return Decimal(0) if self.cost_units is None else _places(self.cost_units)


class Correction(NamedTuple):
    """A line that changes what was rated under a key (ChargeClass Correction): what is due now less what was."""

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

    @property
    def correction(self) -> bool:
        return True


class Rated(NamedTuple):
    """What was already rated under one key: the sums of its lines."""

    seconds: Decimal
    pricing_quantity: Decimal
    cost: Decimal
    end: datetime
    currency: str


# (component, price kind, its price or None) of what a resource pays while one version is in force.
_Priced = list[tuple[str, str, Price | None]]


def _priced(resource: Resource, flavor_id: str | None, version: Version | None) -> _Priced:
    """What a resource pays while billed (an instance: its flavor, and its image when the image has a price of its
    own), each with its price in `version`."""
    if resource.kind is not Kind.INSTANCE:
        kind = resource.kind.value
        return [(kind, kind, version.price(kind, resource.region) if version else None)]
    flavor = flavor_id or resource.flavor_id or ""
    found: _Priced = [
        ("compute", "flavor", version.price("flavor", resource.region, flavor, own=True) if version else None)
    ]
    if resource.image_id and version:
        image = version.price("image", resource.region, resource.image_id, own=True)
        if image is not None:  # an image without a price of its own adds nothing
            found.append(("image", "image", image))
    return found


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
    horizon = microseconds(until) // _HOUR * _HOUR
    minimum = minimum_seconds * _MICROSECONDS_A_SECOND
    changes = book.starts
    for interval in intervals(facts):
        start = microseconds(interval.start)
        end = horizon if interval.end is None else microseconds(interval.end)
        if end <= start:
            continue
        end_at = moment(end) if interval.end is None else interval.end
        # The part boundaries: every UTC hour and every price change strictly inside, and the interval's ends.
        hour = start - start % _HOUR + _HOUR
        first_change = bisect_right(changes, start)
        changed = first_change < len(changes) and changes[first_change] < end
        short = minimum - (end - start) if interval.end is not None and minimum > end - start else 0
        # The version in force over each part: the last to take effect by its start (a part never spans a change).
        following = first_change
        version = book.versions[following - 1] if following else None
        priced = _priced(resource, interval.flavor_id, version)
        if hour >= end and not changed:  # within an hour and one price version: most runs, one part
            for component, price_kind, price in priced:
                lines[(component, interval.start)] = _line(
                    resource,
                    component,
                    price_kind,
                    interval.start,
                    end_at,
                    end - start,
                    short,
                    version,
                    price,
                    currency,
                )
            continue
        cuts = [start, *range(hour, end, _HOUR)]
        if changed:
            cuts = sorted({*cuts, *(c for c in changes[first_change:] if c < end)})
        cuts.append(end)
        moments = [interval.start, *map(moment, cuts[1:-1]), end_at]
        last = len(cuts) - 2
        for n in range(last + 1):
            a = cuts[n]
            if following < len(changes) and changes[following] <= a:
                following = bisect_right(changes, a, following)
                version = book.versions[following - 1]
                priced = _priced(resource, interval.flavor_id, version)
            length, extra = cuts[n + 1] - a, short if n == last else 0
            for component, price_kind, price in priced:
                lines[(component, moments[n])] = _line(
                    resource, component, price_kind, moments[n], moments[n + 1], length, extra, version, price, currency
                )
    return lines


def _line(
    resource: Resource,
    component: str,
    price_kind: str,
    start: datetime,
    end: datetime,
    length: int,
    extra: int,
    version: Version | None,
    price: Price | None,
    currency: str,
) -> Line:
    """The line of a part `length` microseconds long, billed `extra` more to make up a cloud's minimum."""
    billed = length + extra
    if price_kind in ("volume", "snapshot"):
        unit = "GB-Months"
        quantity = _rounded(resource.size_gb * billed * _UNIT * _MONTH_DENOMINATOR, _HOUR * _MONTH_NUMERATOR)
    else:
        unit, quantity = "Hours", _rounded(billed * _UNIT, _HOUR)
    currency_of = version.currency if version else currency
    if price is None:
        return Line(start, component, start, end, length, extra, unit, quantity, None, None, currency_of, None)
    numerator, denominator = price.ratio
    cost = _rounded(quantity * numerator, denominator)
    return Line(
        start,
        component,
        start,
        end,
        length,
        extra,
        unit,
        quantity,
        price.amount,
        cost,
        currency_of,
        version.version if version else None,
    )


def _rounded(numerator: int, denominator: int) -> int:
    """numerator / denominator (> 0) to a whole number, half to even."""
    whole, rest = divmod(numerator, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and whole & 1):
        whole += 1
    return whole


def _places(units: int) -> Decimal:
    """Whole units of the last place kept, as a Decimal of PLACES places (as quantize gives)."""
    # Built from text, which is exact however many digits: arithmetic would round to the context's precision.
    return Decimal(f"{units}E-{PLACES}")


_MILLION = Decimal(_MICROSECONDS_A_SECOND)


def _seconds(us: int) -> Decimal:
    whole, fraction = divmod(us, _MICROSECONDS_A_SECOND)
    return Decimal(whole) if not fraction else Decimal(us) / _MILLION


def differences(
    due_now: Mapping[tuple[str, datetime], Line], rated: Mapping[tuple[str, datetime], Rated]
) -> list[Line | Correction]:
    """The lines to write so that what is rated under each key becomes what is due: a new key's line as it is, a
    changed key's difference as a Correction (a key no longer due is corrected to nothing)."""
    out: list[Line | Correction] = []
    for key, line in due_now.items():
        before = rated.get(key)
        if before is None:
            out.append(line)
            continue
        seconds, quantity, cost = line.seconds, line.pricing_quantity, line.cost
        if (before.cost, before.seconds, before.pricing_quantity) != (cost, seconds, quantity):
            out.append(
                Correction(
                    key_start=line.key_start,
                    component=line.component,
                    start=line.start,
                    end=line.end,
                    seconds=seconds - before.seconds,
                    pricing_unit=line.pricing_unit,
                    pricing_quantity=quantity - before.pricing_quantity,
                    unit_price=line.unit_price,
                    cost=cost - before.cost,
                    currency=line.currency,
                    price_version=line.price_version,
                )
            )
    for (component, start), before in rated.items():
        if (component, start) in due_now or not (before.cost or before.seconds or before.pricing_quantity):
            continue
        out.append(
            Correction(
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
            )
        )
    return out


__all__ = [
    "MINIMUM_SECONDS",
    "PLACES",
    "SERVICE_NAMES",
    "Change",
    "Correction",
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
