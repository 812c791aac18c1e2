"""Clanavi's own price file, as JSON or CSV: one row per price.

JSON: `{"currency": "EUR", "prices": [{"kind": "flavor", "region": "eu-west-1", "item": "m5.large",
"price": "0.107"}, ...]}`; CSV: a header naming the columns `kind,region,item,price,currency`, then one price a
row. `kind` is flavor (per hour), image (per hour of a server running it, on top of its flavor's), volume or
snapshot (per GB-month) or address (per hour); `region` and `item` may be
empty (every region, any item); `price` is a decimal string (JSON numbers are read exactly too). A row may name its
currency; every row of a file must have the same one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from services.provisioner.prices.domain import (
    Price,
    PriceKind,
    PriceList,
    Problems,
    amount_of,
    check_currency,
    one_currency,
)

CSV_COLUMNS = ("kind", "region", "item", "price", "currency")
MAX_ROWS = 200_000
MAX_TEXT = 255


def _text(value: object, problems: Problems, where: str, row: int) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        problems.add(where, f"must be text of at most {MAX_TEXT} printable characters", row=row)
        return None
    return value.strip()


def from_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], currency: str | None, source: str) -> PriceList:
    """The price list of numbered rows; `currency`: the file's own, for rows that name none. Every fault found is
    raised at once (ValidationFailed, 422), each naming its row and field."""
    problems = Problems()
    prices: list[Price] = []
    currencies: list[tuple[str, int | None]] = [(currency, None)] if currency else []
    seen: dict[tuple[PriceKind, str, str], int] = {}
    for number, row in rows:
        if len(prices) >= MAX_ROWS:
            problems.add("prices", f"at most {MAX_ROWS} prices a file", row=number)
            break
        kind_text = row.get("kind")
        kind = PriceKind(kind_text) if isinstance(kind_text, str) and kind_text in set(PriceKind) else None
        if kind is None:
            problems.add("kind", "must be one of " + ", ".join(k.value for k in PriceKind), row=number)
        region = _text(row.get("region"), problems, "region", number)
        item = _text(row.get("item"), problems, "item", number)
        if kind is PriceKind.FLAVOR and item == "":
            problems.add("item", "a flavor's price names the flavor id", row=number)
        if kind is PriceKind.IMAGE and item == "":
            problems.add("item", "an image's price names the image id", row=number)
        if "price" not in row or row["price"] in (None, ""):
            problems.add("price", "is missing", row=number)
            amount = None
        else:
            amount = amount_of(row["price"], problems, "price", number)
        own = row.get("currency")
        if own not in (None, ""):
            if check_currency(own, problems, "currency", number):
                currencies.append((str(own), number))
        elif currency is None:
            problems.add("currency", "is missing (give it in the row or for the whole file)", row=number)
        if kind is None or region is None or item is None or amount is None:
            continue
        key = (kind, region, item)
        if key in seen:
            problems.add("item", f"the same price as row {seen[key]}", row=number)
            continue
        seen[key] = number
        prices.append(Price(kind=kind, region=region, item=item, amount=amount))
    chosen = one_currency(currencies, problems)
    if not prices and not problems.errors:
        problems.add("prices", "the file holds no price")
    problems.raise_any()
    assert chosen is not None  # every row had a currency, or the file did: else a problem was raised
    return PriceList(currency=chosen, prices=tuple(prices), source=source)


def from_json(body: bytes) -> PriceList:
    problems = Problems()
    try:
        # Numbers are read as Decimal: 0.1 stays 0.1.
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        problems.add("body", "is not JSON")
        problems.raise_any()
    if not isinstance(data, dict):
        problems.add("body", 'must be an object: {"currency": ..., "prices": [...]}')
        problems.raise_any()
    unknown = sorted(set(data) - {"currency", "prices"})
    if unknown:
        problems.add(unknown[0], "is not a field of a price file")
    currency = data.get("currency")
    if currency is not None:
        check_currency(currency, problems, "currency")
    rows = data.get("prices")
    if not isinstance(rows, list):
        problems.add("prices", "must be a list of prices")
    elif any(not isinstance(r, dict) for r in rows):
        problems.add("prices", "each price must be an object")
    problems.raise_any()
    return from_rows(enumerate(rows, start=1), currency, "upload:json")


def from_csv(body: bytes) -> PriceList:
    problems = Problems()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.add("body", "is not UTF-8 text")
        problems.raise_any()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or ()]
    for column in CSV_COLUMNS:
        if column not in header:
            problems.add(column, "the header has no such column (it needs " + ",".join(CSV_COLUMNS) + ")")
    problems.raise_any()
    reader.fieldnames = header

    def rows() -> Iterable[tuple[int, Mapping[str, Any]]]:
        # Row 1 is the header: a row's number is its line in a spreadsheet.
        for number, row in enumerate(reader, start=2):
            if None in row:
                problems.add("row", "has more fields than the header", row=number)
                continue
            yield number, {k: v if v is not None else "" for k, v in row.items()}

    try:
        found = from_rows(rows(), None, "upload:csv")
    except csv.Error:
        problems.add("body", "is not CSV")
        problems.raise_any()
        raise
    problems.raise_any()
    return found
