"""`clanavi health-policies` (what the failover service watches, how it remediates, its breaker), `clanavi health`
(each watched instance's health, quarantined ones included) and `clanavi refreshes` (rolling replacement to a new
template version)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.records import add_one
from clanavi.client.models import HealthPolicyIn, HealthPolicyOut, InstanceHealthOut, RefreshIn, RefreshOut

__all__ = ["health", "policies", "refreshes"]

policies = typer.Typer(help="Health policies: a target's servers watched by signals, remediated behind a breaker.")
health = typer.Typer(help="The health of the servers the project's policies watch.")
refreshes = typer.Typer(help="Instance refreshes: a target's servers replaced, a batch at a time, by a new version.")

ACTIONS = ("replace", "reboot", "promote_standby", "quarantine")
PolicyId = Annotated[str, typer.Argument(metavar="POLICY_ID", show_default=False)]
RefreshId = Annotated[str, typer.Argument(metavar="REFRESH_ID", show_default=False)]


def _target(group: str | None, cluster: str | None, role: str | None, tag: str | None) -> dict[str, str]:
    given = [g for g in (group, cluster, tag) if g is not None]
    if len(given) != 1:
        raise typer.BadParameter("give one of --scaling-group, --cluster (with --role) or --tag", param_hint="target")
    if group is not None:
        return {"kind": "scaling_group", "scaling_group_id": group}
    if cluster is not None:
        if role is None:
            raise typer.BadParameter("--cluster needs --role", param_hint="--role")
        return {"kind": "cluster_role", "cluster_id": cluster, "role": role}
    assert tag is not None
    key, sep, value = tag.partition("=")
    if not key or not sep:
        raise typer.BadParameter("KEY=VALUE", param_hint="--tag")
    return {"kind": "tag", "key": key, "value": value}


def _probe(text: str | None, interval: float, timeout: float) -> dict[str, Any] | None:
    """`http:PORT[/PATH]` or `tcp:PORT`."""
    if text is None:
        return None
    kind, _, rest = text.partition(":")
    port, slash, route = rest.partition("/")
    if kind not in ("http", "tcp") or not port.isdigit() or (kind == "tcp" and slash):
        raise typer.BadParameter("http:PORT[/PATH] or tcp:PORT", param_hint="--probe")
    probe: dict[str, Any] = {"kind": kind, "port": int(port), "interval_seconds": interval, "timeout_seconds": timeout}
    if kind == "http":
        probe["path"] = "/" + route
    return probe


@command(policies, "create")
def policy_create(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Unique in the project.")],
    scaling_group: Annotated[str | None, typer.Option("--scaling-group", help="Watch this group's members.")] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Watch a role of this cluster (with --role).")
    ] = None,
    role: Annotated[str | None, typer.Option("--role", help="The cluster's role.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Watch the servers carrying KEY=VALUE.")] = None,
    action: Annotated[str, typer.Option("--action", help=", ".join(ACTIONS) + ".")] = "replace",
    grace: Annotated[int, typer.Option("--grace", help="Seconds after a boot before a server is judged.")] = 300,
    metrics_quiet: Annotated[
        int | None, typer.Option("--metrics-quiet", help="Unhealthy after this many seconds without a metric.")
    ] = None,
    heartbeat: Annotated[
        int | None, typer.Option("--heartbeat", help="Unhealthy after this many seconds without an agent's metric.")
    ] = None,
    probe: Annotated[str | None, typer.Option("--probe", help="http:PORT[/PATH] or tcp:PORT.")] = None,
    probe_interval: Annotated[float, typer.Option("--probe-interval", help="Seconds between probes.")] = 10.0,
    probe_timeout: Annotated[float, typer.Option("--probe-timeout", help="Seconds a probe may take.")] = 2.0,
    address: Annotated[
        str | None, typer.Option("--address", help="promote_standby: the address moved to the standby.")
    ] = None,
    max_unhealthy: Annotated[
        int, typer.Option("--max-unhealthy", help="Breaker: percent of the target unhealthy within the window.")
    ] = 50,
    zone_max_unhealthy: Annotated[
        int | None, typer.Option("--zone-max-unhealthy", help="Breaker: percent of one zone within the window.")
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Breaker: the window, in seconds.")] = 300,
) -> None:
    """Create a health policy over one target: a scaling group, a cluster's role, or a tag."""
    wanted = {
        "name": name,
        "target": _target(scaling_group, cluster, role, tag),
        "signals": {
            "metrics_quiet_seconds": metrics_quiet,
            "heartbeat_seconds": heartbeat,
            "probe": _probe(probe, probe_interval, probe_timeout),
        },
        "grace_seconds": grace,
        "action": action,
        "address_id": address,
        "breaker": {
            "max_unhealthy_percent": max_unhealthy,
            "zone_max_unhealthy_percent": zone_max_unhealthy,
            "window_seconds": window,
        },
    }
    with cli.client() as client:
        cli.display.record(client.health_policies.create(HealthPolicyIn.model_validate(wanted)))


add_list(
    policies,
    of=lambda client: client.health_policies.list,
    model=HealthPolicyOut,
    help="The project's health policies.",
    filters=(
        Filter("action", "--action", "Only those taking this action.", choices=ACTIONS),
        Filter("name", "--name", "Only the one of this name."),
        Filter("scaling_group_id", "--scaling-group", "Only those watching this scaling group."),
    ),
    sorts=("created_at", "name"),
)
add_one(
    policies, "show", lambda client, policy_id: client.health_policies.get(policy_id), "One policy, by id.", "POLICY_ID"
)


@command(policies, "delete", prints=False)
def policy_delete(cli: Invocation, policy_id: PolicyId) -> None:
    """Delete a policy: its servers are no longer watched."""
    with cli.client() as client:
        client.health_policies.delete(policy_id)
    cli.display.note(f"health policy {policy_id} deleted")


@command(policies, "reset-breaker")
def policy_reset_breaker(cli: Invocation, policy_id: PolicyId) -> None:
    """Close an open breaker: remediation resumes, through the breaker again."""
    with cli.client() as client:
        cli.display.record(client.health_policies.reset_breaker(policy_id))


add_list(
    health,
    of=lambda client: client.instance_health.list,
    model=InstanceHealthOut,
    help="Each watched server's health under each policy, with its reasons; quarantined servers too.",
    filters=(
        Filter("policy_id", "--policy", "Only under this policy."),
        Filter(
            "health",
            "--health",
            "Only in this health (repeat for several).",
            choices=("healthy", "unhealthy", "unknown"),
            many=True,
        ),  # fmt: skip
        Filter("quarantined", "--quarantined", "Only the quarantined servers (or, with --no-, the others).", kind=bool),
        Filter("instance_id", "--instance", "Only this server."),
    ),
    sorts=("changed_at", "instance_id"),
)

add_list(
    refreshes,
    of=lambda client: client.refreshes.list,
    model=RefreshOut,
    help="The project's instance refreshes, newest first.",
    filters=(
        Filter("policy_id", "--policy", "Only those of this policy's target."),
        Filter(
            "state",
            "--state",
            "Only in this state.",
            choices=("running", "paused", "completed", "rolled_back", "cancelled"),
        ),  # fmt: skip
    ),
    sorts=("created_at",),
)
add_one(refreshes, "show", lambda client, refresh_id: client.refreshes.get(refresh_id), "One refresh.", "REFRESH_ID")


@command(refreshes, "start")
def refresh_start(
    cli: Invocation,
    policy_id: Annotated[str, typer.Option("--policy", help="The health policy whose target is refreshed.")],
    version: Annotated[int, typer.Option("--version", help="The template version to move to.")],
    min_healthy: Annotated[int, typer.Option("--min-healthy", help="Percent kept in service.")] = 90,
    checkpoint: Annotated[int | None, typer.Option("--checkpoint", help="Pause once this percent is replaced.")] = None,
) -> None:
    """Replace the target's servers with the new version, rolling back if a new one fails its health checks."""
    wanted = {
        "policy_id": policy_id,
        "template_version": version,
        "min_healthy_percent": min_healthy,
        "checkpoint_percent": checkpoint,
    }
    with cli.client() as client:
        cli.display.record(client.refreshes.start(RefreshIn.model_validate(wanted)))


@command(refreshes, "continue")
def refresh_continue(cli: Invocation, refresh_id: RefreshId) -> None:
    """Let a refresh paused at its checkpoint go on."""
    with cli.client() as client:
        cli.display.record(client.refreshes.resume(refresh_id))


@command(refreshes, "cancel")
def refresh_cancel(cli: Invocation, refresh_id: RefreshId) -> None:
    """Stop a refresh where it is (the replacements launched go on)."""
    with cli.client() as client:
        cli.display.record(client.refreshes.cancel(refresh_id))
