"""`clanavi prices`: a cloud account's price catalog, its versions, and importing a new version from a file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.client.models import PriceCatalogVersionOut, PriceOut
from services.provisioner.prices.schemas import PriceFormat

__all__ = ["group"]

group = typer.Typer(help="Prices: each cloud account's price catalog, versioned by the date each version takes effect.")
Cloud = Annotated[str, typer.Option("--cloud", help="The cloud account's id.")]


@command(group, "list")
def prices_list(
    cli: Invocation,
    cloud: Cloud,
    at: Annotated[
        datetime | None, typer.Option("--at", help="The prices in force then (RFC 3339; default now).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="flavor, volume, snapshot or address.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="This region's and every region's.")] = None,
) -> None:
    """The account's prices in force at a moment (amounts are exact decimals, per hour or per GB-month)."""
    with cli.client() as client:
        found = client.prices.get(cloud, at=at, kind=kind, region=region)
        cli.display.note(
            f"version {found.version} in {found.currency}, from {found.source}"
            + (f" ({found.source_age_days} days old)" if found.source_age_days is not None else "")
        )
        cli.display.records(found.prices, PriceOut)


@command(group, "versions")
def prices_versions(cli: Invocation, cloud: Cloud) -> None:
    """Every version of the account's catalog, newest first."""
    with cli.client() as client:
        cli.display.records(client.prices.versions(cloud), PriceCatalogVersionOut)


@command(group, "import")
def prices_import(
    cli: Invocation,
    cloud: Cloud,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The price file (.csv or .json); left out with --format libcloud: the "
            "provisioner's own copy of Libcloud's pricing.json."
        ),
    ] = None,
    format: Annotated[  # noqa: A002  (the API's name)
        str, typer.Option("--format", help="clanavi (JSON or CSV), aws-offer or libcloud (EC2 accounts).")
    ] = "clanavi",
    effective_from: Annotated[
        datetime | None, typer.Option("--effective-from", help="When it takes effect (default now; never earlier).")
    ] = None,
) -> None:
    """Import a price file as the account's next catalog version."""
    if format not in ("clanavi", "aws-offer", "libcloud"):
        raise typer.BadParameter("clanavi, aws-offer or libcloud", param_hint="--format")
    chosen: PriceFormat = format  # type: ignore[assignment]
    content = file.read_bytes() if file else b""
    kind = "text/csv" if file and file.suffix.lower() == ".csv" else "application/json"
    with cli.client() as client:
        made = client.prices.import_file(
            cloud, content, content_type=kind, format=chosen, effective_from=effective_from
        )
        cli.display.record(made)
