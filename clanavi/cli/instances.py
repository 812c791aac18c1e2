"""`clanavi instances`: list, show, launch (several at once with `--count`), the actions, the console and metrics."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import moment
from clanavi.cli.options import DEFAULT_TIMEOUT, Timeout, Wait, pairs
from clanavi.cli.placements import Strategy, policy_of
from clanavi.cli.records import DISCOVERED, Action, Kind, cloud_filters, finish, group_of
from clanavi.cli.templates import launch_values, template_id_of
from clanavi.client import ApiError
from clanavi.client.models import ExtendIn, InstanceCreate, InstanceOut, MetricSampleOut

__all__ = ["KIND", "group"]

KIND = Kind(
    group="instances",
    what="instance",
    of=lambda client: client.instances,
    model=InstanceOut,
    help="Instances: launch them, act on them, read their console and metrics.",
    filters=cloud_filters(InstanceOut, DISCOVERED),
    actions=(
        Action("start", "running", "Start stopped instances."),
        Action("stop", "stopped", "Stop running instances."),
        Action("reboot", "running", "Reboot running instances."),
        Action("suspend", "suspended", "Suspend running instances."),
        Action("resume", "running", "Resume suspended instances."),
        Action("terminate", "terminated", "Terminate instances (repeating it is harmless)."),
    ),
)

group = group_of(KIND)


@command(group, "launch")
def launch(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Its name; with --count N, NAME-1 to NAME-N.")],
    image: Annotated[
        str | None, typer.Option("--image", help="An image id of the cloud's catalogue (clanavi images list).")
    ] = None,
    flavor: Annotated[
        str | None, typer.Option("--flavor", help="A flavor id of the cloud (clanavi flavors list).")
    ] = None,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            metavar="CLOUD_ID",
            help="The cloud account's id (default sim; with --strategy: the only cloud the allocator may choose).",
        ),
    ] = None,
    key_name: Annotated[
        str | None, typer.Option("--key-name", help="The name of one of the project's key pairs.")
    ] = None,
    security_groups: Annotated[
        list[str] | None,
        typer.Option("--security-group", metavar="ID", help="A security group's Clanavi id (repeat for more)."),
    ] = None,
    user_data: Annotated[
        Path | None, typer.Option("--user-data", metavar="FILE", help="A file of user data (16 KiB at most).")
    ] = None,
    zone: Annotated[str | None, typer.Option("--zone", help="The zone to launch in.")] = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="A tag (repeat for more).")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            metavar="TEMPLATE",
            help="A server template's id or name: its image, flavor, options, scripts.",
        ),
    ] = None,
    template_version: Annotated[
        int | None,
        typer.Option("--template-version", min=1, metavar="N", help="The template's version (default: its default)."),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            metavar="NAME=VALUE",
            help="A template input's value (NAME=@FILE: the file's text; repeat for more). A required secret not "
            "given is asked for at the terminal, without echo.",
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input-file", metavar="FILE", help="Template inputs as a YAML or JSON mapping (- for stdin)."),
    ] = None,
    lifetime_hours: Annotated[
        float | None,
        typer.Option(
            "--lifetime-hours", help="Stop or terminate it this long after launch (within the project's cap)."
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=500, help="How many to launch.")] = 1,
    strategy: Strategy = None,
    placement: Annotated[
        str | None,
        typer.Option(
            "--placement",
            metavar="JSON",
            help='A placement policy, as the API takes it ({"strategy": "spread", "group": "web", "affinity": '
            '"anti_affinity"}): the allocator chooses the cloud, zone and flavor of each server.',
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the launch and show where it would go and its cost; launch nothing."),
    ] = False,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Launch instances, from an image and a flavor or from a server template (--template, with its inputs): each
    answers at once in state requested; --wait follows them (one bar for all) until running."""
    policy = _policy(strategy, placement)
    values: dict[str, Any] = {
        "cloud_id": cloud if cloud is not None or policy is not None else "sim",
        "placement": policy,
        "image_id": image,
        "flavor_id": flavor,
        "key_name": key_name,
        "security_group_ids": security_groups or None,
        "zone": zone,
        "tags": pairs(tags, "--tag") or None,
        "user_data": user_data.read_text(encoding="utf-8") if user_data is not None else None,
        "lifetime_hours": lifetime_hours,
    }
    given = {key: value for key, value in values.items() if value is not None}
    names = [name] if count == 1 else [f"{name}-{number}" for number in range(1, count + 1)]
    if template is None and (inputs or input_file or template_version):
        raise Refused("--input, --input-file and --template-version go with --template")
    if template is None and (image is None or flavor is None):
        raise Refused("--image and --flavor are required without --template")

    def checked() -> list[InstanceCreate]:
        # Every launch is checked before the first is sent.
        return [InstanceCreate.model_validate({**given, "name": each}) for each in names]

    asked = checked() if template is None else []
    with cli.client() as client:
        if template is not None:
            given["template_id"] = template_id_of(client, template)
            given["template_version"] = template_version
            given["inputs"] = launch_values(cli, client, given["template_id"], template_version, inputs, input_file)
            asked = checked()
        if dry_run:
            # The servers of one launch are alike: one preview prices them all.
            seen = client.instances.preview(asked[0])
            if seen.launch_block is not None:
                block = seen.launch_block
                cli.display.note(f"budget {block.budget_name} blocks this launch now ({block.reason}): {block.unblock}")
            if seen.monthly is not None and count > 1:
                cli.display.note(f"{count} servers: {seen.monthly * count} {seen.currency} a month")
            cli.display.record(seen)
            return
        launched: list[InstanceOut] = []
        try:
            for instance in asked:
                made = client.instances.launch(instance)
                if made.approval is not None:
                    cli.display.note(f"{made.id} waits for approval {made.approval.id} (clanavi approvals approve)")
                launched.append(made)
        except ApiError:
            if launched:
                cli.display.note(f"launched before the refusal: {', '.join(i.id for i in launched)}")
            raise
        finish(cli, KIND, client.instances, launched, "running", wait=wait, timeout=timeout)


@command(group, "extend")
def extend(
    cli: Invocation,
    instance_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    hours: Annotated[float | None, typer.Option("--hours", help="Hours added to its current end.")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="Its new end (RFC 3339).")] = None,
) -> None:
    """Move the end of the instance's lifetime, within the project's cap. Owners only."""
    if (hours is None) == (until is None):
        raise Refused("give --hours or --until")
    change = {"hours": hours} if until is None else {"expires_at": until}
    with cli.client() as client:
        cli.display.record(client.instances.extend(instance_id, ExtendIn.model_validate(change)))


def _policy(strategy: str | None, given: str | None) -> dict[str, Any] | None:
    """The launch's placement policy, from --placement and --strategy (None: the launch names its cloud)."""
    if given is None and strategy is None:
        return None
    try:
        policy = json.loads(given) if given is not None else {}
    except json.JSONDecodeError:
        raise Refused("--placement takes a JSON object") from None
    if not isinstance(policy, dict):
        raise Refused("--placement takes a JSON object")
    return {**policy, **policy_of(strategy)}


@command(group, "console", prints=False)
def console(cli: Invocation, instance_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)]) -> None:
    """The instance's console output, as the cloud gives it."""
    with cli.client() as client:
        cli.display.text(client.instances.console(instance_id))


@command(group, "metrics")
def metrics(
    cli: Invocation,
    instance_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    since: Annotated[
        datetime | None,
        typer.Option("--since", parser=moment, metavar="TIME", help="From this time (ISO 8601, or 10m, 2h ago)."),
    ] = None,
) -> None:
    """The instance's metric samples (default: the last hour)."""
    with cli.client() as client:
        found = client.instances.metrics(instance_id, since=since)
    cli.display.records(found.items, MetricSampleOut)
