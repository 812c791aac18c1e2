"""`clanavi alert-rules` (thresholds, quiet metrics, event rates and budgets, routed to channels), `clanavi alerts`
(the alerts firing now, and their history), `clanavi channels` (signed webhooks, e-mail, the console, and their
deliveries) and `clanavi silences`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.records import add_one
from clanavi.client.models import AlertOut, AlertRuleOut, ChannelOut, DeliveryOut, SilenceIn, SilenceOut

__all__ = ["alerts", "channels", "rules", "silences"]

rules = typer.Typer(help="Alert rules: what turns into an alert, and the channels it goes to.")
alerts = typer.Typer(help="The alerts firing now (silenced ones marked), and those resolved.")
channels = typer.Typer(help="Notification channels: signed webhooks, e-mail, the console.")
silences = typer.Typer(help="Silences: matchers that mute alerts for a while, or in a weekly window.")

KINDS = ("threshold", "no_data", "event_rate", "budget")
SEVERITIES = ("critical", "warning", "info")
RuleId = Annotated[str, typer.Argument(metavar="RULE_ID", show_default=False)]
ChannelId = Annotated[str, typer.Argument(metavar="CHANNEL_ID", show_default=False)]
SilenceId = Annotated[str, typer.Argument(metavar="SILENCE_ID", show_default=False)]
Pairs = Annotated[list[str] | None, typer.Option("--tag", help="Only servers carrying KEY=VALUE (repeatable).")]


def _pairs(given: list[str] | None, hint: str) -> dict[str, str]:
    found = {}
    for text in given or ():
        key, sep, value = text.partition("=")
        if not key or not sep:
            raise typer.BadParameter("KEY=VALUE", param_hint=hint)
        found[key] = value
    return found


def _condition(text: str) -> tuple[str, str, float]:
    """`METRIC OP VALUE`, as `cpu_utilization>80`."""
    for op in (">=", "<=", "==", "!=", ">", "<"):
        metric, sep, value = text.partition(op)
        if sep:
            try:
                return metric.strip(), op, float(value)
            except ValueError:
                break
    raise typer.BadParameter("METRIC OP VALUE, as cpu_utilization>80", param_hint="--when")


@command(rules, "create")
def rule_create(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Unique in the project.")],
    kind: Annotated[str, typer.Option("--kind", help=", ".join(KINDS) + ".")],
    when: Annotated[str | None, typer.Option("--when", help="threshold: METRIC OP VALUE (cpu_utilization>80).")] = None,
    for_: Annotated[float, typer.Option("--for", help="threshold: seconds the condition holds before firing.")] = 0,
    keep_firing_for: Annotated[
        float, typer.Option("--keep-firing-for", help="threshold: seconds it keeps firing after it stops holding.")
    ] = 0,
    metric: Annotated[str | None, typer.Option("--metric", help="no_data: the metric that goes quiet.")] = None,
    quiet: Annotated[float | None, typer.Option("--quiet", help="no_data: seconds without a sample.")] = None,
    event: Annotated[str | None, typer.Option("--event", help="event_rate: the event type (instance.failed).")] = None,
    count: Annotated[int | None, typer.Option("--count", help="event_rate: at least this many events...")] = None,
    window: Annotated[float | None, typer.Option("--window", help="event_rate: ...within these seconds.")] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="budget: this budget only (any when not given).")
    ] = None,
    min_percent: Annotated[int | None, typer.Option("--min-percent", help="budget: thresholds from this one.")] = None,
    instance: Annotated[list[str] | None, typer.Option("--instance", help="Only these servers (repeatable).")] = None,
    tag: Pairs = None,
    cloud: Annotated[str | None, typer.Option("--cloud", help="Only the servers of this cloud account.")] = None,
    severity: Annotated[str, typer.Option("--severity", help=", ".join(SEVERITIES) + ".")] = "warning",
    channel: Annotated[list[str] | None, typer.Option("--channel", help="A channel id to notify (repeatable).")] = None,
    group_by: Annotated[list[str] | None, typer.Option("--group-by", help="A label grouping notifications.")] = None,
    group_wait: Annotated[float, typer.Option("--group-wait", help="Seconds a new group waits for more.")] = 30,
    group_interval: Annotated[float, typer.Option("--group-interval", help="Seconds between a group's sends.")] = 300,
    repeat_interval: Annotated[
        float, typer.Option("--repeat-interval", help="Seconds before a still-firing group is sent again.")
    ] = 14400,
    inhibit: Annotated[
        list[str] | None,
        typer.Option("--inhibit", help="While this fires, mute alerts labelled LABEL=VALUE (repeatable)..."),
    ] = None,
    inhibit_equal: Annotated[
        list[str] | None, typer.Option("--inhibit-equal", help="...that agree with it on this label (repeatable).")
    ] = None,
) -> None:
    """Create an alert rule of one kind, over the whole project or the servers chosen."""
    wanted: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "severity": severity,
        "channel_ids": channel or [],
        "routing": {
            "group_by": group_by or [],
            "group_wait_seconds": group_wait,
            "group_interval_seconds": group_interval,
            "repeat_interval_seconds": repeat_interval,
            "inhibits": _pairs(inhibit, "--inhibit"),
            "inhibit_equal": inhibit_equal or [],
        },
    }
    scope = {"instance_ids": instance or [], "tags": _pairs(tag, "--tag"), "cloud_id": cloud}
    if kind == "threshold":
        if when is None:
            raise typer.BadParameter("a threshold rule needs --when", param_hint="--when")
        name_, op, value = _condition(when)
        wanted |= {"metric": name_, "operator": op, "value": value, "for": for_, "keep_firing_for": keep_firing_for}
        wanted["scope"] = scope
    elif kind == "no_data":
        wanted |= {"metric": metric, "quiet_seconds": quiet, "scope": scope}
    elif kind == "event_rate":
        wanted |= {"event_type": event, "count": count, "window_seconds": window, "scope": scope}
    elif kind == "budget":
        wanted |= {"budget_id": budget, "min_percent": min_percent}
    else:
        raise typer.BadParameter(", ".join(KINDS), param_hint="--kind")
    with cli.client() as client:
        cli.display.record(client.alert_rules.create(wanted))


add_list(
    rules,
    of=lambda client: client.alert_rules.list,
    model=AlertRuleOut,
    help="The project's alert rules.",
    filters=(
        Filter("kind", "--kind", "Only rules of this kind.", choices=KINDS),
        Filter("name", "--name", "Only the one of this name."),
        Filter("metric", "--metric", "Only those on this metric."),
        Filter("channel_id", "--channel", "Only those notifying this channel."),
    ),
    sorts=("created_at", "name"),
)
add_one(rules, "show", lambda client, rule_id: client.alert_rules.get(rule_id), "One rule, by id.", "RULE_ID")


@command(rules, "delete", prints=False)
def rule_delete(cli: Invocation, rule_id: RuleId) -> None:
    """Delete a rule: its live alerts go with it."""
    with cli.client() as client:
        client.alert_rules.delete(rule_id)
    cli.display.note(f"alert rule {rule_id} deleted")


_ALERT_FILTERS = (
    Filter("rule_id", "--rule", "Only this rule's."),
    Filter("severity", "--severity", "Only of this severity.", choices=SEVERITIES),
    Filter("instance_id", "--instance", "Only about this server."),
    Filter("kind", "--kind", "Only of rules of this kind.", choices=KINDS),
)
add_list(
    alerts,
    of=lambda client: client.alerts.list,
    model=AlertOut,
    help="The alerts firing (and pending) now; silenced ones are marked.",
    filters=(
        Filter("state", "--state", "Only firing or only pending.", choices=("firing", "pending")),
        *_ALERT_FILTERS,
        Filter("silenced", "--silenced", "Only silenced ones, or only those not.", kind=bool),
    ),
    sorts=("started_at", "updated_at"),
)
add_list(
    alerts,
    of=lambda client: client.alerts.history,
    model=AlertOut,
    help="The alerts resolved, newest first.",
    filters=_ALERT_FILTERS,
    sorts=("started_at", "updated_at"),
    name="history",
)
add_one(alerts, "show", lambda client, alert_id: client.alerts.get(alert_id), "One alert, by id.", "ALERT_ID")


@command(channels, "create")
def channel_create(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Unique in the project.")],
    webhook: Annotated[str | None, typer.Option("--webhook", help="An http(s) URL to POST signed alerts to.")] = None,
    email: Annotated[list[str] | None, typer.Option("--email", help="An address to mail (repeatable).")] = None,
    console: Annotated[bool, typer.Option("--console", help="Alerts shown on the console's page only.")] = False,
) -> None:
    """Create a channel: a webhook (its signing secret is shown this once), e-mail addresses, or the console."""
    if sum((webhook is not None, bool(email), console)) != 1:
        raise typer.BadParameter("give one of --webhook, --email or --console", param_hint="channel")
    if webhook is not None:
        wanted: dict[str, Any] = {"kind": "webhook", "name": name, "url": webhook}
    elif email:
        wanted = {"kind": "email", "name": name, "to": email}
    else:
        wanted = {"kind": "console", "name": name}
    with cli.client() as client:
        made = client.channels.create(wanted)
    cli.display.record(made)
    if made.secret:
        cli.display.note("the signing secret is shown this once: keep it now")


add_list(
    channels,
    of=lambda client: client.channels.list,
    model=ChannelOut,
    help="The project's notification channels.",
    filters=(
        Filter("kind", "--kind", "Only channels of this kind.", choices=("webhook", "email", "console")),
        Filter("name", "--name", "Only the one of this name."),
        Filter("enabled", "--enabled", "Only enabled ones, or only disabled.", kind=bool),
    ),
    sorts=("created_at", "name"),
)
add_one(channels, "show", lambda client, channel_id: client.channels.get(channel_id), "One channel.", "CHANNEL_ID")
add_list(
    channels,
    of=lambda client: client.channels.deliveries,
    model=DeliveryOut,
    help="A channel's deliveries, newest first, with their attempts.",
    filters=(
        Filter("channel_id", "", "The channel's id.", argument=True),
        Filter("state", "--state", "Only in this state.", choices=("pending", "delivered", "failed")),
    ),
    sorts=("created_at",),
    name="deliveries",
)


@command(channels, "enable")
def channel_enable(cli: Invocation, channel_id: ChannelId) -> None:
    """Send to a webhook again after its endpoint answered 410 Gone."""
    with cli.client() as client:
        cli.display.record(client.channels.enable(channel_id))


@command(channels, "delete", prints=False)
def channel_delete(cli: Invocation, channel_id: ChannelId) -> None:
    """Delete a channel: rules naming it no longer notify it."""
    with cli.client() as client:
        client.channels.delete(channel_id)
    cli.display.note(f"channel {channel_id} deleted")


@command(silences, "create")
def silence_create(
    cli: Invocation,
    match: Annotated[list[str], typer.Option("--match", help="LABEL=VALUE, or LABEL=~REGEX (repeatable).")],
    ends: Annotated[datetime, typer.Option("--ends", help="When it ends (ISO 8601, with its offset).")],
    starts: Annotated[datetime | None, typer.Option("--starts", help="When it starts (now by default).")] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    days: Annotated[
        list[int] | None, typer.Option("--day", help="Recurring: a weekday, 0 for Monday (repeatable).")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Recurring: the window's start, HH:MM.")] = None,
    minutes: Annotated[int | None, typer.Option("--minutes", help="Recurring: the window's length.")] = None,
    time_zone: Annotated[str, typer.Option("--time-zone", help="Recurring: an IANA time zone.")] = "UTC",
) -> None:
    """Silence the alerts whose labels match every --match (alertname is the rule's name)."""
    matchers = []
    for text in match:
        label, sep, value = text.partition("=")
        if not label or not sep:
            raise typer.BadParameter("LABEL=VALUE or LABEL=~REGEX", param_hint="--match")
        regex = value.startswith("~")
        matchers.append({"label": label, "value": value[1:] if regex else value, "regex": regex})
    wanted: dict[str, Any] = {"matchers": matchers, "ends_at": ends, "comment": comment}
    if starts is not None:
        wanted["starts_at"] = starts
    if days:
        wanted["weekly"] = {"days": days, "start": at, "duration_minutes": minutes, "time_zone": time_zone}
    with cli.client() as client:
        cli.display.record(client.silences.create(SilenceIn.model_validate(wanted)))


add_list(
    silences,
    of=lambda client: client.silences.list,
    model=SilenceOut,
    help="The project's silences, newest first.",
    filters=(Filter("state", "--state", "Only active (not ended) or only expired.", choices=("active", "expired")),),
    sorts=("created_at", "ends_at"),
)
add_one(silences, "show", lambda client, silence_id: client.silences.get(silence_id), "One silence.", "SILENCE_ID")


@command(silences, "expire", prints=False)
def silence_expire(cli: Invocation, silence_id: SilenceId) -> None:
    """End a silence now."""
    with cli.client() as client:
        client.silences.expire(silence_id)
    cli.display.note(f"silence {silence_id} expired")
