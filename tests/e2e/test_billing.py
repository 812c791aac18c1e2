"""Billing on the platform as processes, through the installed `clanavi` command: a server launched on SimCloud and
stopped is billed from the provisioner's own events at the account's built-in prices, within seconds; its costs
summed, grouped and exported in FOCUS columns, and invoiced (a PDF downloaded); a budget refused for bad input,
made, listed and deleted."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.platform import TOKEN, Platform, wait_for_state
from tests.e2e.test_cli import LAUNCH, SIM, Shell

pytestmark = pytest.mark.e2e

CHECKOUT = str(Path(__file__).resolve().parents[2])


async def test_a_stopped_server_is_billed_and_exported_from_the_command_line(
    platform: Platform, tmp_path: Path
) -> None:
    admin = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    cloud = admin("clouds", "add", "--name", "sim-bill", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
    server = admin(*LAUNCH, "--cloud", cloud, "--name", "billed", "--tag", "team=e2e", "-o", "json").json()
    async with platform.client() as client:
        await wait_for_state(client, server["id"], "running")
    admin("instances", "stop", server["id"], "--wait", "-o", "json")

    def billed(items: list[dict[str, str]]) -> bool:
        return bool(items) and Decimal(items[0]["consumed_seconds"]) > 0 and Decimal(items[0]["cost"]) > 0

    found = admin.poll(
        "costs", "list", "--group-by", "resource", "--group-by", "tag:team", "--resource", server["id"], until=billed
    )
    assert billed(found), found
    (line,) = found
    assert line["group"] == {"resource": server["id"], "tag:team": "e2e"} and line["currency"] == "USD"
    # sim.small's built-in price, 0.02 an hour, for the seconds it ran.
    exact = Decimal("0.02") * Decimal(line["consumed_seconds"]) / 3600
    assert abs(Decimal(line["cost"]) - exact) < Decimal("1e-9")

    exported = admin("costs", "export", "--cloud", cloud).out
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {r["ResourceId"] for r in rows} == {server["id"]}
    assert all(
        r["ServiceName"] == "Compute" and r["x_CloudId"] == cloud and r["BillingCurrency"] == "USD" for r in rows
    )

    refused = admin("budgets", "create", "--name", "bad", "--amount", "-3", expect=None)
    assert refused.status != 0 and "amount" in refused.err
    budget = admin(
        "budgets", "create", "--name", "e2e", "--amount", "50", "--tag", "team=e2e", "--threshold", "80",
        "--threshold", "100:forecast:notify,block_launches", "-o", "json",
    ).json()  # fmt: skip
    assert budget["scope"]["tag_key"] == "team" and budget["launches_blocked"] is False
    assert [t["percent"] for t in budget["thresholds"]] == [80, 100]
    listed = admin("budgets", "list", "--name", "e2e", "-o", "json").json()
    assert [b["id"] for b in listed] == [budget["id"]] and Decimal(listed[0]["spent"]) > 0
    admin("budgets", "delete", budget["id"])
    month = server["created_at"][:7]
    shown = admin("invoices", "show", month, "-o", "json").json()
    assert server["id"] in [line["resource_id"] for line in shown["lines"]]
    target = tmp_path / "invoice.pdf"
    admin("invoices", "download", month, "--file", str(target))
    assert target.read_bytes().startswith(b"%PDF-1.4") and target.read_bytes().endswith(b"%%EOF\n")
    future = admin("invoices", "show", "2999-01", expect=None)
    assert future.status != 0 and "month" in future.err
    assert admin("budgets", "list", "--name", "e2e", "-o", "json").json() == []
