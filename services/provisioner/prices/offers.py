"""EC2 prices from the files others publish: AWS's price list offer file (the Price List Bulk API's JSON, `products`
and `terms.OnDemand`), and the `pricing.json` Apache Libcloud ships.

Only on-demand prices are read: Linux, shared tenancy, no pre-installed software for instances; EBS volumes by
volume type (`volumeApiName`); EBS snapshots; in-use public IPv4 addresses. Everything else in the files (reserved
terms, other products) is left out without a warning: an EC2 offer file is mostly such things.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.provisioner.prices.domain import Price, PriceKind, PriceList, Problems, amount_of, capped, one_currency

# The instances an offer file prices for each flavor: a flavor's price is that of a plain Linux instance on shared
# hardware (Libcloud's `ec2_linux` holds the same).
_INSTANCE = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA"}
# Offer files list an instance type's price three times by `capacitystatus`; "Used" is the on-demand price.
_CAPACITY = "Used"
_UNITS = {PriceKind.FLAVOR: "Hrs", PriceKind.VOLUME: "GB-Mo", PriceKind.SNAPSHOT: "GB-Mo", PriceKind.ADDRESS: "Hrs"}


def _json(body: bytes, problems: Problems) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        problems.add("body", "is not JSON")
        problems.raise_any()


def _offered(product: Mapping[str, Any]) -> tuple[PriceKind, str] | None:
    """What an offer file's product is a price of in a catalog, and the item (flavor id, volume type); None: none."""
    family = product.get("productFamily")
    attributes = product.get("attributes") or {}
    if family == "Compute Instance":
        if any(attributes.get(k) != v for k, v in _INSTANCE.items()):
            return None
        if attributes.get("capacitystatus", _CAPACITY) != _CAPACITY:
            return None
        return PriceKind.FLAVOR, str(attributes.get("instanceType", ""))
    if family == "Storage" and attributes.get("volumeApiName"):
        return PriceKind.VOLUME, str(attributes["volumeApiName"])
    if family == "Storage Snapshot" and str(attributes.get("usagetype", "")).endswith("EBS:SnapshotUsage"):
        return PriceKind.SNAPSHOT, ""
    if family == "IP Address" and str(attributes.get("usagetype", "")).endswith("PublicIPv4:InUseAddress"):
        return PriceKind.ADDRESS, ""
    return None


def _publication(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        published = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return published if published.tzinfo else published.replace(tzinfo=UTC)


def from_aws_offer(body: bytes) -> PriceList:
    """The on-demand prices of an EC2 offer file (one region's or every region's)."""
    problems = Problems()
    data = _json(body, problems)
    if not isinstance(data, dict) or not isinstance(data.get("products"), dict):
        problems.add("products", "an offer file has an object `products` keyed by SKU")
        problems.raise_any()
    on_demand = (data.get("terms") or {}).get("OnDemand") if isinstance(data.get("terms"), dict) else None
    if not isinstance(on_demand, dict):
        problems.add("terms.OnDemand", "an offer file has an object `terms.OnDemand` keyed by SKU")
        problems.raise_any()
    assert isinstance(on_demand, dict)
    if data.get("offerCode") not in (None, "AmazonEC2"):
        problems.add("offerCode", "must be AmazonEC2")
        problems.raise_any()
    prices: dict[tuple[PriceKind, str, str], Price] = {}
    currencies: list[tuple[str, int | None]] = []
    warnings: list[str] = []
    for sku, product in data["products"].items():
        offered = _offered(product) if isinstance(product, dict) else None
        if offered is None:
            continue
        kind, item = offered
        region = str((product.get("attributes") or {}).get("regionCode", ""))
        if not region or (kind is PriceKind.FLAVOR and not item):
            warnings.append(f"product {sku} names no region or instance type: left out")
            continue
        terms = on_demand.get(sku)
        dimensions = [
            d
            for term in (terms.values() if isinstance(terms, dict) else ())
            if isinstance(term, dict)
            for d in (term.get("priceDimensions") or {}).values()
            if isinstance(d, dict) and d.get("unit") == _UNITS[kind] and str(d.get("beginRange", "0")) == "0"
        ]
        if not dimensions:
            warnings.append(f"product {sku} has no on-demand price per {_UNITS[kind]}: left out")
            continue
        per_unit = dimensions[0].get("pricePerUnit")
        if not isinstance(per_unit, dict) or len(per_unit) != 1:
            problems.add(f"terms.OnDemand.{sku}", "pricePerUnit must name one currency")
            continue
        [(currency, value)] = per_unit.items()
        amount = amount_of(value, problems, f"terms.OnDemand.{sku}.pricePerUnit.{currency}", None)
        if amount is None:
            continue
        currencies.append((currency, None))
        prices[(kind, region, item)] = Price(kind=kind, region=region, item=item, amount=amount)
    chosen = one_currency(currencies, problems)
    if not prices and not problems.errors:
        problems.add("products", "the file prices no on-demand Linux instance, EBS volume, snapshot or address")
    problems.raise_any()
    assert chosen is not None
    kept, count = capped(warnings)
    return PriceList(
        currency=chosen,
        prices=tuple(prices.values()),
        source="aws-offer",
        source_updated_at=_publication(data.get("publicationDate")),
        warnings=kept,
        warning_count=count,
    )


def installed_libcloud_file() -> Path | None:
    """The `pricing.json` of the Apache Libcloud installed beside the provisioner (None: it is not installed)."""
    spec = importlib.util.find_spec("libcloud")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data" / "pricing.json"


def from_libcloud(body: bytes) -> PriceList:
    """EC2 Linux on-demand prices per instance type and region (`compute.ec2_linux`), in US dollars, as old as the
    file's `updated` (seconds since the epoch). Libcloud writes 0 where it has no price: those are left out."""
    problems = Problems()
    data = _json(body, problems)
    table = (data.get("compute") or {}).get("ec2_linux") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        problems.add("compute.ec2_linux", "a Libcloud pricing file has an object `compute.ec2_linux`")
        problems.raise_any()
    assert isinstance(table, dict)
    prices: list[Price] = []
    unpriced = 0
    for flavor, regions in table.items():
        if not isinstance(regions, dict):
            problems.add(f"compute.ec2_linux.{flavor}", "must map regions to prices")
            continue
        for region, value in regions.items():
            amount = amount_of(value, problems, f"compute.ec2_linux.{flavor}.{region}", None)
            if amount is None:
                continue
            if amount == 0:
                unpriced += 1
                continue
            prices.append(Price(kind=PriceKind.FLAVOR, region=region, item=flavor, amount=amount))
    if not prices and not problems.errors:
        problems.add("compute.ec2_linux", "holds no price")
    problems.raise_any()
    updated = data.get("updated")
    warnings = [f"{unpriced} instance types and regions Libcloud prices at 0 (unknown): left out"] if unpriced else []
    return PriceList(
        currency="USD",
        prices=tuple(prices),
        source="libcloud",
        source_updated_at=datetime.fromtimestamp(updated, UTC) if isinstance(updated, int) else None,
        warnings=tuple(warnings),
        warning_count=len(warnings),
    )
