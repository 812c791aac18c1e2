"""Reading price files: Clanavi's JSON and CSV, AWS's EC2 offer file (a sample of its published structure) and the
`pricing.json` Apache Libcloud ships (the real installed file); choosing the version in force at a moment."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kernel.errors import ValidationFailed
from services.provisioner.prices import builtin, formats, offers
from services.provisioner.prices.domain import CatalogVersion, Price, PriceKind, in_force, price_of
from services.provisioner.prices.handlers import server_hourly

SAMPLE = Path(__file__).parents[1] / "reference" / "aws" / "ec2-offer-sample.json"
SIM_FLAVORS = Path(__file__).parents[2] / "adapters" / "simcloud" / "migrations" / "versions" / "0001_initial.py"


def refused(read: object, body: bytes) -> list[dict[str, object]]:
    with pytest.raises(ValidationFailed) as caught:
        read(body)  # type: ignore[operator]
    errors: list[dict[str, object]] = caught.value.extensions["errors"]
    return errors


def test_json_prices_are_read_exactly_from_strings_and_numbers() -> None:
    found = formats.from_json(
        b'{"currency": "EUR", "prices": [{"kind": "flavor", "region": "r1", "item": "m1", "price": 0.1},'
        b' {"kind": "volume", "price": "0.0800"}]}'
    )
    assert found.currency == "EUR" and found.source == "upload:json"
    assert found.prices == (
        Price(PriceKind.FLAVOR, "r1", "m1", Decimal("0.1")),
        Price(PriceKind.VOLUME, "", "", Decimal("0.0800")),
    )


def test_csv_prices_name_their_line() -> None:
    found = formats.from_csv(b"kind,region,item,price,currency\nflavor,,m1.small,0.0250,EUR\naddress,,,0.005,EUR\n")
    assert [(p.kind, p.item, p.amount) for p in found.prices] == [
        (PriceKind.FLAVOR, "m1.small", Decimal("0.0250")),
        (PriceKind.ADDRESS, "", Decimal("0.005")),
    ]
    errors = refused(formats.from_csv, b"kind,region,item,price,currency\nflavor,,a,0.1,EUR\nflavor,,b,-1,EUR\n")
    assert errors == [{"field": "price", "detail": "must not be negative", "row": 3}]


def test_a_csv_without_a_column_is_refused_naming_it() -> None:
    errors = refused(formats.from_csv, b"kind,item,price\nflavor,m1,0.1\n")
    assert {e["field"] for e in errors} == {"region", "currency"}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"kind": "gpu", "item": "x", "price": "1"}, "kind"),
        ({"kind": "flavor", "price": "1"}, "item"),
        ({"kind": "image", "price": "1"}, "item"),
        ({"kind": "flavor", "item": "x"}, "price"),
        ({"kind": "flavor", "item": "x", "price": "1e400000"}, "price"),
        ({"kind": "flavor", "item": "x", "price": "NaN"}, "price"),
        ({"kind": "flavor", "item": "x", "price": True}, "price"),
        ({"kind": "flavor", "item": "x", "price": "0.00000000001"}, "price"),
        ({"kind": "flavor", "item": "x", "price": "1", "currency": "usd"}, "currency"),
        ({"kind": "flavor", "item": "x", "price": "1", "currency": "EUR"}, "currency"),
    ],
)
def test_a_bad_row_is_refused_naming_field_and_row(row: dict[str, object], field: str) -> None:
    body = {"currency": "USD", "prices": [{"kind": "volume", "price": "1"}, row]}
    errors = refused(formats.from_json, json.dumps(body).encode())
    assert errors[0]["field"] == field and errors[0]["row"] == 2


def test_a_file_with_no_currency_or_a_repeated_price_is_refused() -> None:
    assert refused(formats.from_json, b'{"prices": [{"kind": "volume", "price": "1"}]}')[0]["field"] == "currency"
    twice = b'{"currency": "USD", "prices": [{"kind": "volume", "price": "1"}, {"kind": "volume", "price": "2"}]}'
    assert refused(formats.from_json, twice)[0] == {"field": "item", "detail": "the same price as row 1", "row": 2}
    assert refused(formats.from_json, b"[1]")[0]["field"] == "body"
    assert refused(formats.from_json, b'{"currency": "USD", "prices": []}')[0]["field"] == "prices"


def test_the_aws_offer_sample_gives_on_demand_linux_storage_and_address_prices() -> None:
    found = offers.from_aws_offer(SAMPLE.read_bytes())
    assert found.currency == "USD" and found.source == "aws-offer"
    assert found.source_updated_at == datetime(2025, 3, 1, tzinfo=UTC)
    # Windows, a capacity reservation and the reserved term are left out.
    assert sorted(found.prices, key=lambda p: p.kind.value) == [
        Price(PriceKind.ADDRESS, "us-east-1", "", Decimal("0.0050000000")),
        Price(PriceKind.FLAVOR, "us-east-1", "t3.micro", Decimal("0.0104000000")),
        Price(PriceKind.SNAPSHOT, "us-east-1", "", Decimal("0.0500000000")),
        Price(PriceKind.VOLUME, "us-east-1", "gp3", Decimal("0.0800000000")),
    ]


def test_an_offer_file_with_a_negative_price_or_no_terms_is_refused() -> None:
    data = json.loads(SAMPLE.read_text())
    data["terms"]["OnDemand"]["DQ578CGN99KG6ECF"]["DQ578CGN99KG6ECF.JRTCKXETXF"]["priceDimensions"][
        "DQ578CGN99KG6ECF.JRTCKXETXF.6YS6EN2CT7"
    ]["pricePerUnit"] = {"USD": "-0.01"}
    errors = refused(offers.from_aws_offer, json.dumps(data).encode())
    assert errors[0]["field"] == "terms.OnDemand.DQ578CGN99KG6ECF.pricePerUnit.USD"
    del data["terms"]
    assert refused(offers.from_aws_offer, json.dumps(data).encode())[0]["field"] == "terms.OnDemand"


def test_the_installed_libcloud_file_gives_ec2_prices_and_its_age() -> None:
    path = offers.installed_libcloud_file()
    assert path is not None and path.is_file()
    raw = json.loads(path.read_text())
    found = offers.from_libcloud(path.read_bytes())
    assert found.currency == "USD" and found.source == "libcloud"
    assert found.source_updated_at == datetime.fromtimestamp(raw["updated"], UTC)
    expected = Decimal(str(raw["compute"]["ec2_linux"]["t3.micro"]["us-east-1"]))
    assert price_of(found.prices, PriceKind.FLAVOR, "us-east-1", "t3.micro") == Price(
        PriceKind.FLAVOR, "us-east-1", "t3.micro", expected
    )
    zeros = sum(1 for regions in raw["compute"]["ec2_linux"].values() for v in regions.values() if v == 0)
    assert len(found.prices) + zeros == sum(len(r) for r in raw["compute"]["ec2_linux"].values())
    assert all(p.amount > 0 for p in found.prices)


def test_a_libcloud_file_without_ec2_prices_is_refused() -> None:
    assert refused(offers.from_libcloud, b'{"compute": {}, "updated": 1}')[0]["field"] == "compute.ec2_linux"


def test_the_builtin_simcloud_prices_are_simclouds_flavor_table() -> None:
    rows = re.findall(r'\("(sim\.\w+)", "[^"]+", \d+, \d+, \d+, "([\d.]+)"\)', SIM_FLAVORS.read_text())
    assert dict(rows) == builtin.FLAVORS


def _version(n: int, start: datetime) -> CatalogVersion:
    return CatalogVersion(str(n), "p", "c", n, start, "USD", "upload:json", None, 1, (), 0, start, "c")


def test_the_version_in_force_is_the_latest_started_and_the_later_import_of_a_tie() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    one, two, three = _version(1, t0), _version(2, t0 + timedelta(days=30)), _version(3, t0 + timedelta(days=30))
    future = _version(4, t0 + timedelta(days=60))
    versions = [one, two, three, future]
    assert in_force(versions, t0 - timedelta(seconds=1)) is None
    assert in_force(versions, t0) == one
    assert in_force(versions, t0 + timedelta(days=29)) == one
    assert in_force(versions, t0 + timedelta(days=30)) == three
    assert in_force(versions, t0 + timedelta(days=90)) == future


def test_a_regions_own_price_wins_over_one_for_every_region() -> None:
    prices = [Price(PriceKind.FLAVOR, "", "m1", Decimal(1)), Price(PriceKind.FLAVOR, "r1", "m1", Decimal(2))]
    assert price_of(prices, PriceKind.FLAVOR, "r1", "m1") == prices[1]
    assert price_of(prices, PriceKind.FLAVOR, "r2", "m1") == prices[0]
    assert price_of(prices, PriceKind.FLAVOR, "r1", "m2") is None


def test_a_servers_hour_is_its_flavors_price_with_what_its_image_adds() -> None:
    body = {
        "currency": "USD",
        "prices": [
            {"kind": "flavor", "item": "m1", "price": "0.10"},
            {"kind": "image", "item": "win", "price": "0.046"},
            {"kind": "image", "region": "r2", "item": "win", "price": "0.05"},
        ],
    }
    prices = formats.from_json(json.dumps(body).encode()).prices
    assert server_hourly(prices, "r1", "m1", "win") == Decimal("0.146")
    assert server_hourly(prices, "r2", "m1", "win") == Decimal("0.15")
    # An image with no price adds nothing; a flavor with none leaves the server unpriced, whatever its image.
    assert server_hourly(prices, "r1", "m1", "debian") == Decimal("0.10")
    assert server_hourly(prices, "r1", "m1", None) == Decimal("0.10")
    assert server_hourly(prices, "r1", "m2", "win") is None
