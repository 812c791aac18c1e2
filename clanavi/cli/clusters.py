"""`clanavi clusters`: clusters made from a spec file (the API's body as YAML or JSON), their roles' health and
members, and the changes the API makes to them (scale a role, replace a member, retry, delete)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.options import read_document
from clanavi.cli.output import DEFAULT_COLUMNS
from clanavi.cli.records import states_of
from clanavi.client.models import ClusterDetailOut, ClusterMemberOut, ClusterOut, RoleHealthOut, RolePreviewOut

__all__ = ["group"]

group = typer.Typer(help="Clusters: roles of servers from template versions, launched and scaled as a unit.")
Id = Annotated[str, typer.Argument(metavar="ID", show_default=False)]

DEFAULT_COLUMNS[ClusterOut] = ("id", "name", "state", "on_failure", "reason", "created_at")
DEFAULT_COLUMNS[RoleHealthOut] = ("name", "count", "members", "running", "health", "states", "depends_on", "cloud_id")
DEFAULT_COLUMNS[ClusterMemberOut] = ("name", "role", "state", "instance_id", "retired", "replaced_by")
DEFAULT_COLUMNS[RolePreviewOut] = ("role", "count", "hourly", "monthly", "launch")
_SUMMARY = ("id", "name", "state", "on_failure", "reason", "created_at", "updated_at")


def show(cli: Invocation, detail: ClusterDetailOut) -> None:
    """A cluster: as a table, its own fields, then a row per role and per member; otherwise the whole document."""
    if cli.display.format != "table" or cli.display.columns:
        cli.display.record(detail)
        return
    replace(cli.display, columns=_SUMMARY).record(detail)
    cli.display.records(detail.roles, RoleHealthOut)
    cli.display.records(detail.members, ClusterMemberOut)


add_list(
    group,
    of=lambda client: client.clusters.list,
    model=ClusterOut,
    help="The project's clusters.",
    filters=(
        Filter(
            "state",
            "--state",
            "Only those in this state (repeat for several).",
            choices=states_of(ClusterOut),
            many=True,
        ),
        Filter("name", "--name", "Only those of this name."),
    ),
    sorts=("created_at", "updated_at", "name", "state"),
)


@command(group, "show")
def clusters_show(cli: Invocation, cluster_id: Id) -> None:
    """A cluster: each role's desired count, members by state and health, and every member it ever had."""
    with cli.client() as client:
        show(cli, client.clusters.get(cluster_id))


@command(group, "create")
def clusters_create(
    cli: Invocation,
    file: Annotated[
        Path, typer.Option("--file", "-f", metavar="FILE", help="The cluster as YAML or JSON (- for stdin).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show each role's placement and cost; launch nothing.")
    ] = False,
) -> None:
    """Create a cluster from a spec: name, on_failure (rollback or degrade) and roles, each with name,
    template_id, count, cloud_id, inputs and depends_on."""
    spec = read_document(file, "--file", cli.runtime.stdin)
    with cli.client() as client:
        if dry_run:
            seen = client.clusters.preview(spec)
            cli.display.records(seen.roles, RolePreviewOut)
            if seen.hourly is not None:
                cli.display.note(f"the cluster: {seen.hourly} {seen.currency} an hour, {seen.monthly} a month")
            return
        cli.display.record(client.clusters.create(spec))


@command(group, "scale")
def clusters_scale(
    cli: Invocation,
    cluster_id: Id,
    role: Annotated[str, typer.Argument(metavar="ROLE", show_default=False)],
    count: Annotated[int, typer.Argument(metavar="COUNT", min=0, max=100, show_default=False)],
) -> None:
    """Set a role's count: new members are launched, or the newest taken out (terminated the normal way)."""
    with cli.client() as client:
        show(cli, client.clusters.scale(cluster_id, role, count))


@command(group, "replace")
def clusters_replace(
    cli: Invocation,
    cluster_id: Id,
    instance_id: Annotated[str, typer.Argument(metavar="INSTANCE_ID", show_default=False)],
) -> None:
    """Replace a member: a new one (with a new name) is launched, then the old one terminated."""
    with cli.client() as client:
        show(cli, client.clusters.replace(cluster_id, instance_id))


@command(group, "retry")
def clusters_retry(cli: Invocation, cluster_id: Id) -> None:
    """Try again what failed in a degraded cluster."""
    with cli.client() as client:
        show(cli, client.clusters.retry(cluster_id))


@command(group, "delete")
def clusters_delete(cli: Invocation, cluster_id: Id) -> None:
    """Terminate every member (dependents first, decommission scripts first); the cluster ends terminated."""
    with cli.client() as client:
        show(cli, client.clusters.delete(cluster_id))
