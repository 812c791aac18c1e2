"""`clanavi placements`: where the allocator would put servers, and why, as a table of every candidate with its score
or the reason it was rejected; and the placement options `clanavi instances launch` shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.templates import launch_values, template_id_of
from clanavi.client import ApiError
from clanavi.client.models import CandidateOut, PlacedOut, PlacementCreate

__all__ = ["Strategy", "group", "policy_of"]

group = typer.Typer(help="Placements: where the allocator would put servers, every candidate scored or rejected.")

Strategy = Annotated[
    str | None,
    typer.Option("--strategy", help="cheapest (default), spread or pack: place by the allocator, not on one cloud."),
]
Clouds = Annotated[
    list[str] | None,
    typer.Option("--cloud", metavar="CLOUD_ID", help="A cloud the servers may go to (repeat; default: any)."),
]
Zones = Annotated[list[str] | None, typer.Option("--zone", help="A zone they may go to (repeat; default: any).")]
Group = Annotated[str | None, typer.Option("--group", help="The placement group affinity refers to.")]
Affinity = Annotated[str | None, typer.Option("--affinity", help="affinity or anti_affinity with the group's members.")]
Scope = Annotated[str | None, typer.Option("--scope", help="zone (default) or cloud: what apart or together means.")]
Seed = Annotated[int | None, typer.Option("--seed", min=0, help="Break ties the same way every time.")]


def policy_of(
    strategy: str | None,
    clouds: list[str] | None = None,
    zones: list[str] | None = None,
    group_name: str | None = None,
    affinity: str | None = None,
    scope: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """A placement policy as the API takes it, from the options given."""
    given = {
        "strategy": strategy,
        "cloud_ids": clouds or None,
        "zones": zones or None,
        "group": group_name,
        "affinity": affinity,
        "anti_affinity_scope": scope,
        "seed": seed,
    }
    return {key: value for key, value in given.items() if value is not None}


@command(group, "preview")
def preview(
    cli: Invocation,
    image: Annotated[str | None, typer.Option("--image", help="An image id (of the clouds that have it).")] = None,
    flavor: Annotated[str | None, typer.Option("--flavor", help="A flavor id (of the clouds that have it).")] = None,
    vcpus: Annotated[int | None, typer.Option("--vcpus", min=1, help="In place of --flavor: at least this.")] = None,
    ram_mb: Annotated[int | None, typer.Option("--ram-mb", min=0, help="...and this much RAM.")] = None,
    disk_gb: Annotated[int | None, typer.Option("--disk-gb", min=0, help="...and this much disk.")] = None,
    image_name: Annotated[
        str | None, typer.Option("--image-name", help="In place of --image: the image of this name in each cloud.")
    ] = None,
    template: Annotated[
        str | None, typer.Option("--template", metavar="TEMPLATE", help="A server template's id or name.")
    ] = None,
    template_version: Annotated[int | None, typer.Option("--template-version", min=1, metavar="N")] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", metavar="NAME=VALUE", help="A template input (repeat).")
    ] = None,
    input_file: Annotated[Path | None, typer.Option("--input-file", metavar="FILE")] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=100, help="Servers placed in one decision.")] = 1,
    strategy: Strategy = None,
    clouds: Clouds = None,
    zones: Zones = None,
    group_name: Group = None,
    affinity: Affinity = None,
    scope: Scope = None,
    seed: Seed = None,
) -> None:
    """Place servers by policy without launching them: each placed server, then every candidate with its score, or
    why it was rejected (a 422 when too few fit shows the candidates too)."""
    needs = {"vcpus": vcpus, "ram_mb": ram_mb, "disk_gb": disk_gb, "image_name": image_name}
    requirements = {k: v for k, v in needs.items() if v is not None}
    asked: dict[str, Any] = {
        "count": count,
        "placement": policy_of(strategy, clouds, zones, group_name, affinity, scope, seed),
    }
    if image is not None:
        asked["image_id"] = image
    if flavor is not None:
        asked["flavor_id"] = flavor
    if requirements:
        asked["requirements"] = requirements
    if template is None and (inputs or input_file or template_version):
        raise Refused("--input, --input-file and --template-version go with --template")
    with cli.client() as client:
        if template is not None:
            asked["template_id"] = template_id_of(client, template)
            asked["template_version"] = template_version
            asked["inputs"] = launch_values(cli, client, asked["template_id"], template_version, inputs, input_file)
        body = PlacementCreate.model_validate(asked)
        try:
            found = client.placements.preview(body)
        except ApiError as exc:
            if exc.code == "placement_failed":
                shown = [CandidateOut.model_validate(c) for c in exc.extensions.get("candidates", [])]
                cli.display.records(shown, CandidateOut)
            raise
        if cli.display.format != "table":
            cli.display.record(found)
            return
        cli.display.note(f"{len(found.placed)} placed by {found.strategy} among {found.candidate_count} candidates")
        cli.display.records(found.placed, PlacedOut)
        cli.display.records(found.candidates, CandidateOut)
