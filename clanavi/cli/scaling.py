"""`clanavi scaling-groups`: groups the scaler keeps between a minimum and a maximum, their members and protection,
their policies, what they did (activities) and their history of desired / actual / metric."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list, paging_note, take
from clanavi.cli.options import read_document
from clanavi.cli.output import DEFAULT_COLUMNS
from clanavi.client.models import ActivityOut, GroupOut, HistoryPointOut, PolicyOut, ScalingMemberOut

__all__ = ["group"]

group = typer.Typer(help="Scaling groups: servers of one template version the scaler keeps between min and max.")
policies = typer.Typer(help="A scaling group's policies: target tracking, step and scheduled.")
group.add_typer(policies, name="policies")
Id = Annotated[str, typer.Argument(metavar="ID", show_default=False)]

DEFAULT_COLUMNS[GroupOut] = ("id", "name", "template_id", "template_version", "min_size", "desired", "max_size")
DEFAULT_COLUMNS[ScalingMemberOut] = ("instance_id", "state", "zone", "template_version", "protected", "hook")
DEFAULT_COLUMNS[PolicyOut] = ("id", "name", "kind", "metric", "target", "cron", "time_zone", "next_run_at")
DEFAULT_COLUMNS[ActivityOut] = ("at", "kind", "instance_id", "description")
DEFAULT_COLUMNS[HistoryPointOut] = ("at", "desired", "actual", "metric", "value")

add_list(
    group,
    of=lambda client: client.scaling_groups.list,
    model=GroupOut,
    help="The project's scaling groups.",
    filters=(
        Filter("name", "--name", "Only the group of this name."),
        Filter("template_id", "--template", "Only the groups of this template."),
    ),
    sorts=("created_at", "name"),
)


@command(group, "show")
def scaling_groups_show(cli: Invocation, group_id: Id) -> None:
    """A scaling group's settings, and its members."""
    with cli.client() as client:
        cli.display.record(client.scaling_groups.get(group_id))
        if cli.display.format == "table" and not cli.display.columns:
            cli.display.records(client.scaling_groups.instances(group_id), ScalingMemberOut)


@command(group, "create")
def scaling_groups_create(
    cli: Invocation,
    file: Annotated[
        Path, typer.Option("--file", "-f", metavar="FILE", help="The group as YAML or JSON (- for stdin).")
    ],
) -> None:
    """Create a group from a spec: name, template_id, template_version, min_size, max_size, desired, allowed_clouds,
    allowed_zones, strategy, tags, cooldown_seconds, termination_policies, lifecycle_hooks."""
    spec = read_document(file, "--file", cli.runtime.stdin)
    with cli.client() as client:
        cli.display.record(client.scaling_groups.create(spec))


@command(group, "set")
def scaling_groups_set(
    cli: Invocation,
    group_id: Id,
    desired: Annotated[int | None, typer.Option("--desired", min=0, help="The desired capacity.")] = None,
    min_size: Annotated[int | None, typer.Option("--min", min=0, help="The minimum.")] = None,
    max_size: Annotated[
        int | None, typer.Option("--max", min=0, help="The maximum, over members in every state.")
    ] = None,
    template_version: Annotated[
        int | None, typer.Option("--template-version", min=1, help="Launch from this version from now on.")
    ] = None,
) -> None:
    """Change a group's bounds, desired capacity or template version; a new desired capacity is acted on at once."""
    changes = {
        "desired": desired,
        "min_size": min_size,
        "max_size": max_size,
        "template_version": template_version,
    }
    with cli.client() as client:
        given = {k: v for k, v in changes.items() if v is not None}
        cli.display.record(client.scaling_groups.update(group_id, given))


@command(group, "delete")
def scaling_groups_delete(cli: Invocation, group_id: Id) -> None:
    """Delete a group that has no members left (set --min 0 --desired 0 first)."""
    with cli.client() as client:
        client.scaling_groups.delete(group_id)
    cli.display.note(f"scaling group {group_id} deleted")


@command(group, "instances")
def scaling_groups_instances(cli: Invocation, group_id: Id) -> None:
    """The group's members: their state, zone, version, protection and the hook they wait in."""
    with cli.client() as client:
        cli.display.records(client.scaling_groups.instances(group_id), ScalingMemberOut)


@command(group, "protect")
def scaling_groups_protect(
    cli: Invocation,
    group_id: Id,
    instance_id: Annotated[str, typer.Argument(metavar="INSTANCE_ID", show_default=False)],
    off: Annotated[bool, typer.Option("--off", help="Stop protecting it.")] = False,
) -> None:
    """Protect a member from scale-in (or, with --off, stop protecting it)."""
    with cli.client() as client:
        cli.display.record(client.scaling_groups.protect(group_id, instance_id, not off))


@command(group, "activities")
def scaling_groups_activities(
    cli: Invocation,
    group_id: Id,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many.")] = 50,
) -> None:
    """What the group did, newest first: each decision with its reason, launches, terminations, hooks."""
    with cli.client() as client:
        listing = client.scaling_groups.activities
        taken = take(lambda size: listing(group_id, limit=size), limit=limit, every=False)
    cli.display.records(taken.items, ActivityOut)
    note = paging_note(taken)
    if note:
        cli.display.note(note)


@command(group, "history")
def scaling_groups_history(
    cli: Invocation,
    group_id: Id,
    minutes: Annotated[int, typer.Option("--minutes", min=1, max=1440, help="How far back.")] = 60,
) -> None:
    """Desired and actual capacity and the metric, over time."""
    with cli.client() as client:
        cli.display.records(client.scaling_groups.history(group_id, minutes=minutes).points, HistoryPointOut)


@command(group, "complete-hook")
def scaling_groups_complete_hook(
    cli: Invocation,
    group_id: Id,
    hook: Annotated[str, typer.Argument(metavar="HOOK", show_default=False)],
    instance_id: Annotated[str, typer.Argument(metavar="INSTANCE_ID", show_default=False)],
    abandon: Annotated[bool, typer.Option("--abandon", help="ABANDON rather than CONTINUE.")] = False,
) -> None:
    """Let a member waiting in a lifecycle hook go on (CONTINUE) or give it up (ABANDON)."""
    result: Literal["CONTINUE", "ABANDON"] = "ABANDON" if abandon else "CONTINUE"
    with cli.client() as client:
        client.scaling_groups.complete_hook(group_id, hook, instance_id, result)
    cli.display.note(f"{instance_id}: hook {hook} completed with {result}")


@command(policies, "list")
def policies_list(cli: Invocation, group_id: Id) -> None:
    """The group's policies."""
    with cli.client() as client:
        cli.display.records(client.scaling_groups.policies(group_id), PolicyOut)


@command(policies, "add")
def policies_add(
    cli: Invocation,
    group_id: Id,
    file: Annotated[
        Path, typer.Option("--file", "-f", metavar="FILE", help="The policy as YAML or JSON (- for stdin).")
    ],
) -> None:
    """Add a policy from a spec: name, kind (target_tracking, step, scheduled) and the kind's fields."""
    spec = read_document(file, "--file", cli.runtime.stdin)
    with cli.client() as client:
        cli.display.record(client.scaling_groups.add_policy(group_id, spec))


@command(policies, "delete")
def policies_delete(
    cli: Invocation, group_id: Id, policy_id: Annotated[str, typer.Argument(metavar="POLICY_ID", show_default=False)]
) -> None:
    """Delete a policy."""
    with cli.client() as client:
        client.scaling_groups.delete_policy(group_id, policy_id)
    cli.display.note(f"policy {policy_id} deleted")
