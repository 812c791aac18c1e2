"""Billing's rules: intervals from facts in any order, per-second usage with a cloud's minimum, hourly parts, prices
by version, differences written as Correction lines; FOCUS rows; an invoice's PDF and its month."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kernel.errors import ValidationFailed
from kernel.events import InstanceRequested
from services.billing.catalogs.domain import Price, PriceBook, Version
from services.billing.costs.focus import COLUMNS, csv_header, csv_row, focus
from services.billing.invoices import pdf
from services.billing.invoices.handlers import checked_month
from services.billing.usage.domain import Change, Fact, Kind, Line, Rated, Resource, differences, due, intervals
from services.billing.usage.facts import learned

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
VM = Resource(id="i-1", kind=Kind.INSTANCE, project_id="p", cloud_id="c", flavor_id="small")
BOOK = PriceBook.of(
    [Version("c", 0, datetime(1970, 1, 1, tzinfo=UTC), "USD", (Price("flavor", "", "small", Decimal("0.36")),))]
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rated_of(lines: dict[tuple[str, datetime], Line]) -> dict[tuple[str, datetime], Rated]:
    return {k: Rated(v.seconds, v.pricing_quantity, v.cost, v.end, v.currency) for k, v in lines.items()}


def test_intervals_do_not_depend_on_the_order_facts_arrive_in() -> None:
    facts = [
        Fact(at(0), Change.ON, "small"),
        Fact(at(100), Change.OFF),
        Fact(at(200), Change.ON, "small"),
        Fact(at(250), Change.END),
        Fact(at(300), Change.ON, "small"),  # after its end: never billed
    ]
    expected = [(at(0), at(100)), (at(200), at(250))]
    for _ in range(20):
        random.shuffle(facts)
        assert [(i.start, i.end) for i in intervals(facts)] == expected


def test_per_second_usage_is_cut_at_each_hour_and_priced() -> None:
    facts = [Fact(at(1800), Change.ON, "small"), Fact(at(7200 + 90), Change.END)]
    lines = due(VM, facts, BOOK, until=at(99999))
    assert [(k[1], v.seconds) for k, v in sorted(lines.items())] == [
        (at(1800), Decimal(1800)),
        (at(3600), Decimal(3600)),
        (at(7200), Decimal(90)),
    ]
    assert sum(v.cost for v in lines.values()) == Decimal("0.36") * Decimal(5490) / 3600
    assert all(v.pricing_unit == "Hours" and v.currency == "USD" and v.price_version == 0 for v in lines.values())


def test_a_cloud_minimum_pays_a_short_run_a_minute_and_no_minimum_pays_the_seconds() -> None:
    facts = [Fact(at(0), Change.ON, "small"), Fact(at(20), Change.OFF)]
    assert sum(v.seconds for v in due(VM, facts, BOOK, until=at(999), minimum_seconds=60).values()) == 60
    assert sum(v.seconds for v in due(VM, facts, BOOK, until=at(999)).values()) == 20


def test_an_open_interval_is_rated_up_to_the_last_hour_ended() -> None:
    lines = due(VM, [Fact(at(1800), Change.ON, "small")], BOOK, until=at(3 * 3600 + 5))
    assert sum(v.seconds for v in lines.values()) == 3 * 3600 - 1800


def test_a_price_version_taking_over_cuts_the_usage() -> None:
    later = Version("c", 1, at(600), "EUR", (Price("flavor", "", "small", Decimal("0.72")),))
    book = PriceBook.of([*BOOK.versions, later])
    lines = due(VM, [Fact(at(0), Change.ON, "small"), Fact(at(1200), Change.OFF)], book, until=at(9999))
    assert [(v.seconds, v.currency, v.cost) for _, v in sorted(lines.items())] == [
        (Decimal(600), "USD", Decimal("0.06")),
        (Decimal(600), "EUR", Decimal("0.12")),
    ]


def test_unpriced_usage_is_kept_at_no_cost() -> None:
    lines = due(VM, [Fact(at(0), Change.ON, "other"), Fact(at(60), Change.OFF)], BOOK, until=at(999))
    assert [(v.seconds, v.cost, v.unit_price) for v in lines.values()] == [(Decimal(60), Decimal(0), None)]


def test_volumes_are_priced_per_gb_month() -> None:
    volume = Resource(id="v", kind=Kind.VOLUME, project_id="p", cloud_id="c", size_gb=10)
    book = PriceBook.of([Version("c", 0, T0, "USD", (Price("volume", "", "", Decimal("0.1")),))])
    lines = due(volume, [Fact(at(0), Change.ON), Fact(at(3600), Change.END)], book, until=at(9999))
    (line,) = lines.values()
    assert line.pricing_unit == "GB-Months" and line.cost == (Decimal(10) / 730 * Decimal("0.1")).quantize(
        Decimal("1e-12")
    )


def test_amounts_are_what_decimal_arithmetic_quantized_to_twelve_places_gives() -> None:
    # Rating counts in whole microseconds and units of the twelfth place: the figures must be Decimal's own, rounded
    # once, half to even (a price of 0.5 on an odd quantity is a tie every time).
    q = Decimal("1e-12")
    prices = (Price("flavor", "", "small", Decimal("0.5")), Price("volume", "", "", Decimal("0.123456789")))
    book = PriceBook.of([Version("c", 0, datetime(1970, 1, 1, tzinfo=UTC), "USD", prices)])
    volume = Resource(id="v", kind=Kind.VOLUME, project_id="p", cloud_id="c", size_gb=37)
    rng = random.Random(3)
    for _ in range(300):
        start = T0 + timedelta(microseconds=rng.randint(0, 1800 * 10**6))
        end = start + timedelta(microseconds=rng.randint(1, 1800 * 10**6))
        seconds = Decimal((end - start) // timedelta(microseconds=1)) / 1_000_000
        (vm,) = due(VM, [Fact(start, Change.ON, "small"), Fact(end, Change.OFF)], BOOK, until=end).values()
        hours = (seconds / 3600).quantize(q)
        assert (vm.seconds, vm.pricing_quantity, vm.cost) == (seconds, hours, (Decimal("0.36") * hours).quantize(q))
        (vm,) = due(VM, [Fact(start, Change.ON, "small"), Fact(end, Change.OFF)], book, until=end).values()
        assert vm.cost == (Decimal("0.5") * hours).quantize(q)
        (disk,) = due(volume, [Fact(start, Change.ON), Fact(end, Change.END)], book, until=end).values()
        months = (37 * seconds / 3600 / 730).quantize(q)
        assert (disk.pricing_quantity, disk.cost) == (months, (Decimal("0.123456789") * months).quantize(q))


def test_what_was_rated_is_never_written_again_and_a_late_fact_is_corrected() -> None:
    first = due(VM, [Fact(at(0), Change.ON, "small"), Fact(at(600), Change.OFF)], BOOK, until=at(9999))
    assert all(not line.correction for line in differences(first, {}))
    assert differences(first, rated_of(first)) == []
    # A stop delivered late: the run ended at 300 s, not 600 s.
    late = due(
        VM,
        [Fact(at(0), Change.ON, "small"), Fact(at(300), Change.OFF), Fact(at(600), Change.OFF)],
        BOOK,
        until=at(9999),
    )
    (fix,) = differences(late, rated_of(first))
    assert fix.correction and fix.seconds == -300 and fix.cost == Decimal("-0.03")
    # Usage no longer due at all is corrected to nothing.
    (gone,) = differences({}, rated_of(first))
    assert gone.correction and gone.seconds == -600 and gone.currency == "USD"


def test_a_scalers_launch_names_its_group_and_a_users_does_not() -> None:
    base = {"instance_id": "i", "cloud_id": "c", "name": "n", "image_id": "img", "flavor_id": "f"}
    by_scaler = learned(InstanceRequested(**base, requested_by="scaler:g-1", tags={"team": "a"}), T0)
    by_user = learned(InstanceRequested(**base), T0)
    assert by_scaler is not None and by_scaler.attributes["scaling_group_id"] == "g-1"
    assert by_scaler.attributes["tags"] == {"team": "a"} and by_scaler.fact is None
    assert by_user is not None and by_user.attributes["scaling_group_id"] is None


def test_an_exported_line_has_every_focus_column_in_order() -> None:
    stored = {
        "id": 7,
        "project_id": "p",
        "resource_id": "i-1",
        "resource_type": "instance",
        "resource_name": "web",
        "component": "compute",
        "charge_period_start": T0,
        "charge_period_end": at(60),
        "charge_class": "Correction",
        "service_name": "Compute",
        "region_id": None,
        "cloud_id": "c",
        "pricing_unit": "Hours",
        "pricing_quantity": Decimal("0.016666666667"),
        "consumed_quantity": Decimal("60"),
        "list_unit_price": Decimal("0.3600"),
        "cost": Decimal("-0.006000000000"),
        "currency": "USD",
        "price_version": 0,
        "tags": {"team": "a,b"},
        "cluster_id": None,
        "template_id": None,
        "scaling_group_id": None,
        "rated_at": at(61),
    }
    row = focus(stored)
    assert tuple(row) == COLUMNS
    assert row["BilledCost"] == "-0.006" and row["ChargePeriodStart"] == "2026-12-01T10:00:00Z"
    assert row["ChargeClass"] == "Correction" and row["ConsumedQuantity"] == "60"
    assert csv_header().startswith("BilledCost,EffectiveCost,ListCost,")
    assert '"{""team"": ""a,b""}"' in csv_row(row)


def test_an_invoice_pdf_is_a_valid_pdf_whose_text_reads_back() -> None:
    lines = [f"line {n} (with parentheses) and a back\\slash" for n in range(130)]
    document = pdf.document(lines, title="Invoice p 2026-11")
    assert document.startswith(b"%PDF-1.4\n") and document.endswith(b"%%EOF\n")
    # The cross-reference table gives each object's byte offset: each must be where that object starts.
    xref = int(document[document.rindex(b"startxref") + 10 :].split()[0])
    assert document[xref:].startswith(b"xref\n")
    header, *entries = document[xref:].split(b"trailer")[0].decode().splitlines()[1:]
    first, count = (int(x) for x in header.split())
    assert first == 0 and count == len(entries) and entries[0].endswith("65535 f ")
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry.split()[0])
        assert document[offset:].startswith(f"{number} 0 obj\n".encode())
    trailer = document[document.rindex(b"trailer") :]
    assert f"/Size {count}".encode() in trailer and b"/Root 1 0 R" in trailer
    # Each content stream's length is what its dictionary says; the text shown reads back, escapes undone.
    shown = []
    for match in re.finditer(rb"<< /Length (\d+) >>\nstream\n", document):
        length = int(match.group(1))
        stream = document[match.end() : match.end() + length]
        assert document[match.end() + length :].startswith(b"\nendstream")
        shown += [
            re.sub(r"\\(.)", r"\1", m.decode("latin-1")) for m in re.findall(rb"\(((?:[^()\\]|\\.)*)\) '", stream)
        ]
    assert shown == lines
    assert document.count(b"/Type /Page ") == 3  # 130 lines: 52 a page


def test_a_future_or_malformed_month_is_refused_naming_it() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert checked_month("2026-12", now) == "2026-12" and checked_month("2025-01", now) == "2025-01"
    for bad in ("2027-01", "2026-13", "2026-1", "december"):
        with pytest.raises(ValidationFailed) as refused:
            checked_month(bad, now)
        assert refused.value.extensions["errors"][0]["location"] == "path.month"
