"""`clanavi metrics push`: push custom samples (an agent's, an application's) that the scaler and failover read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.options import read_json_file

__all__ = ["group"]

group = typer.Typer(help="Metrics: push samples of the project's instances (or of anything, with labels).")


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key or not sep:
        raise typer.BadParameter("KEY=VALUE", param_hint="--label")
    return key, value


@command(group, "push")
def push(
    cli: Invocation,
    name: Annotated[str | None, typer.Option("--name", help="The metric, e.g. queue_depth.")] = None,
    value: Annotated[float | None, typer.Option("--value", help="Its value.")] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", metavar="INSTANCE_ID", help="The instance it was measured on.")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="Its unit, e.g. percent.")] = "",
    at: Annotated[str | None, typer.Option("--at", help="When it was measured (ISO 8601; default now).")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="KEY=VALUE (repeat for several).")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="FILE", help='Many samples: {"samples": [...]} as JSON (- for stdin).'),
    ] = None,
) -> None:
    """Push one sample (--name and --value), or those of --file. Operators and owners."""
    if file is not None:
        if name is not None or value is not None:
            raise Refused("give either --file or --name and --value")
        samples: dict[str, Any] = read_json_file(file, "--file", cli.runtime.stdin)
    else:
        if name is None or value is None:
            raise Refused("give --name and --value (or --file)")
        sample: dict[str, Any] = {"name": name, "value": value, "unit": unit, "labels": dict(map(_label, label or ()))}
        if instance is not None:
            sample["instance_id"] = instance
        if at is not None:
            sample["at"] = at
        samples = {"samples": [sample]}
    with cli.client() as client:
        cli.display.record(client.metrics.push(samples))
