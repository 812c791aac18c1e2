"""`clanavi costs` (rated usage summed by what you group it by, exported in FOCUS columns, re-rated) and `clanavi
budgets` (monthly amounts over a scope, with thresholds that notify, block launches or stop servers)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list, moment
from clanavi.cli.records import add_one
from clanavi.client.models import BudgetIn, BudgetOut, CostGroupOut, InvoiceSummaryOut

__all__ = ["budgets", "costs", "invoices"]

costs = typer.Typer(help="Costs: rated usage in FOCUS columns, summed, exported, re-rated.")
invoices = typer.Typer(help="Invoices: the project's cost per month, as JSON, CSV or PDF.")
budgets = typer.Typer(help="Budgets: monthly amounts with thresholds that notify, block launches or stop servers.")

GROUPS = "day, month, cloud, resource, resource_type, cluster, template, scaling_group, service, region, tag:KEY"
BudgetId = Annotated[str, typer.Argument(metavar="BUDGET_ID", show_default=False)]

add_list(
    costs,
    of=lambda client: client.costs.list,
    model=CostGroupOut,
    help=f"Costs summed per currency by --group-by (repeat; {GROUPS}; default day).",
    filters=(
        Filter("group_by", "--group-by", "What to sum by (repeat for several).", many=True),
        Filter("start", "--start", "Lines from this time on.", kind=datetime),
        Filter("end", "--end", "Lines before this time.", kind=datetime),
        Filter("cloud_id", "--cloud", "Only this cloud account's."),
        Filter("resource_id", "--resource", "Only this resource's."),
        Filter("cluster_id", "--cluster", "Only this cluster's."),
        Filter("tag", "--tag", "Only lines with this tag: KEY or KEY=VALUE."),
    ),
    ordered=False,
)


@command(costs, "export", prints=False)
def costs_export(
    cli: Invocation,
    format: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",  # noqa: A002 - the option
    start: Annotated[Any, typer.Option("--start", parser=moment, metavar="TIME", help="From this time on.")] = None,
    end: Annotated[Any, typer.Option("--end", parser=moment, metavar="TIME", help="Before this time.")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud", help="Only this cloud account's.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Only this cluster's.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="KEY or KEY=VALUE.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Write here rather than to stdout.")] = None,
) -> None:
    """Every cost line in FOCUS 1.2 columns (Clanavi's own as x_ columns), as CSV or JSON lines."""
    if format not in ("csv", "jsonl"):
        raise typer.BadParameter("csv or jsonl", param_hint="--format")
    with cli.client() as client:
        exported = client.costs.export(
            format="csv" if format == "csv" else "jsonl",
            start=start,
            end=end,
            cloud_id=cloud,
            cluster_id=cluster,
            tag=tag,
        )
    if file is None:
        cli.display.text(exported)
    else:
        file.write_text(exported)
        cli.display.note(f"{exported.count(chr(10))} lines written to {file}")


@command(costs, "rerate")
def costs_rerate(
    cli: Invocation,
    start: Annotated[Any, typer.Option("--start", parser=moment, metavar="TIME", help="From this time.")],
    end: Annotated[Any, typer.Option("--end", parser=moment, metavar="TIME", help="To this time (exclusive).")],
) -> None:
    """Rate a period again with the prices known now: the differences as Correction lines."""
    with cli.client() as client:
        cli.display.record(client.costs.rerate({"start": start, "end": end}))


def _scope(tag: str | None, cluster: str | None) -> dict[str, Any]:
    if tag is not None and cluster is not None:
        raise typer.BadParameter("give --tag or --cluster, not both", param_hint="scope")
    if tag is not None:
        key, sep, value = tag.partition("=")
        if not key:
            raise typer.BadParameter("KEY or KEY=VALUE", param_hint="--tag")
        return {"kind": "tag", "tag_key": key, "tag_value": value if sep else None}
    if cluster is not None:
        return {"kind": "cluster", "cluster_id": cluster}
    return {"kind": "project"}


def _threshold(text: str) -> dict[str, Any]:
    """`PERCENT[:BASIS][:ACTION,ACTION]`: `80`, `100:forecast`, `100:actual:notify,block_launches`."""
    parts = text.split(":")
    if not parts[0].isdigit() or len(parts) > 3:
        raise typer.BadParameter("PERCENT[:actual|forecast][:ACTION,...]", param_hint="--threshold")
    threshold: dict[str, Any] = {"percent": int(parts[0])}
    if len(parts) > 1 and parts[1]:
        threshold["basis"] = parts[1]
    if len(parts) > 2:
        threshold["actions"] = parts[2].split(",")
    return threshold


@command(budgets, "create")
def budget_create(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Unique in the project.")],
    amount: Annotated[str, typer.Option("--amount", help="A month's, a decimal number.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217.")] = "USD",
    tag: Annotated[str | None, typer.Option("--tag", help="Over the servers with KEY or KEY=VALUE.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Over this cluster's servers.")] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="PERCENT[:actual|forecast][:notify,block_launches,stop_servers] (repeat)."),
    ] = None,
) -> None:
    """Create a monthly budget over the project, a tag or a cluster."""
    wanted = {
        "name": name,
        "scope": _scope(tag, cluster),
        "amount": amount,
        "currency": currency,
        "thresholds": [_threshold(t) for t in threshold or ()],
    }
    with cli.client() as client:
        cli.display.record(client.budgets.create(BudgetIn.model_validate(wanted)))


add_list(
    budgets,
    of=lambda client: client.budgets.list,
    model=BudgetOut,
    help="The project's budgets, with this month's spend and forecast.",
    filters=(
        Filter("name", "--name", "Only the one of this name."),
        Filter("scope", "--scope", "Only those over this kind of scope.", choices=("project", "tag", "cluster")),
    ),
    sorts=("created_at", "name"),
)
add_one(budgets, "show", lambda client, budget_id: client.budgets.get(budget_id), "One budget, by id.", "BUDGET_ID")


@command(budgets, "delete", prints=False)
def budget_delete(cli: Invocation, budget_id: BudgetId) -> None:
    """Delete a budget: launches it blocked are allowed again."""
    with cli.client() as client:
        client.budgets.delete(budget_id)
    cli.display.note(f"budget {budget_id} deleted")


add_list(
    invoices,
    of=lambda client: client.invoices.list,
    model=InvoiceSummaryOut,
    help="Months invoiced, newest first.",
    ordered=False,
)
add_one(invoices, "show", lambda client, month: client.invoices.get(month), "A month's invoice (YYYY-MM).", "MONTH")


@command(invoices, "download", prints=False)
def invoice_download(
    cli: Invocation,
    month: Annotated[str, typer.Argument(metavar="MONTH", help="YYYY-MM.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="pdf or csv.")] = "pdf",  # noqa: A002 - the option
    file: Annotated[Path | None, typer.Option("--file", help="Where to write (invoice-MONTH.FORMAT).")] = None,
) -> None:
    """Write a month's invoice as a PDF document or a CSV file."""
    if format not in ("pdf", "csv"):
        raise typer.BadParameter("pdf or csv", param_hint="--format")
    with cli.client() as client:
        content = client.invoices.download(month, "pdf" if format == "pdf" else "csv")
    target = file or Path(f"invoice-{month}.{format}")
    target.write_bytes(content)
    cli.display.note(f"{len(content)} bytes written to {target}")
