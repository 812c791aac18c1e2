"""Cost lines in FOCUS 1.2 column names (Clanavi's own as `x_` columns), and their CSV and JSON-lines encodings;
no I/O. Amounts are written as exact decimal strings."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceName",
    "RegionId",
    "PricingUnit",
    "PricingQuantity",
    "ConsumedQuantity",
    "ConsumedUnit",
    "Tags",
    "x_ProjectId",
    "x_CloudId",
    "x_ClusterId",
    "x_TemplateId",
    "x_ScalingGroupId",
    "x_Component",
    "x_PriceVersion",
    "x_RatedAt",
    "x_LineId",
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value)


def focus(line: Mapping[str, Any]) -> dict[str, Any]:
    """One stored line (a `costs` row) as FOCUS columns."""
    cost = _text(line["cost"])
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "ListUnitPrice": _text(line["list_unit_price"]),
        "BillingCurrency": line["currency"],
        "ChargePeriodStart": _text(line["charge_period_start"]),
        "ChargePeriodEnd": _text(line["charge_period_end"]),
        "ChargeCategory": "Usage",
        "ChargeClass": line["charge_class"],
        "ChargeDescription": f"{line['service_name']}: {line['component']} of {line['resource_type']}",
        "ResourceId": line["resource_id"],
        "ResourceName": line["resource_name"],
        "ResourceType": line["resource_type"],
        "ServiceName": line["service_name"],
        "RegionId": line["region_id"],
        "PricingUnit": line["pricing_unit"],
        "PricingQuantity": _text(line["pricing_quantity"]),
        "ConsumedQuantity": _text(line["consumed_quantity"]),
        "ConsumedUnit": "Seconds",
        "Tags": dict(line["tags"] or {}),
        "x_ProjectId": line["project_id"],
        "x_CloudId": line["cloud_id"],
        "x_ClusterId": line["cluster_id"],
        "x_TemplateId": line["template_id"],
        "x_ScalingGroupId": line["scaling_group_id"],
        "x_Component": line["component"],
        "x_PriceVersion": line["price_version"],
        "x_RatedAt": _text(line["rated_at"]),
        "x_LineId": str(line["id"]),
    }


def csv_header() -> str:
    return _csv_line(COLUMNS)


def csv_row(row: Mapping[str, Any]) -> str:
    values = [
        json.dumps(v, sort_keys=True) if isinstance(v, dict) else ("" if v is None else str(v)) for v in row.values()
    ]
    return _csv_line(values)


def _csv_line(values: Any) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def jsonl_row(row: Mapping[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":")) + "\n"


__all__ = ["COLUMNS", "csv_header", "csv_row", "focus", "jsonl_row"]
