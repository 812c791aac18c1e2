"""The alerts service's pure rules: an alert's life under `for` and `keep_firing_for`, rule scopes, silences with
weekly windows in a time zone, Standard Webhooks signatures and the retry schedule of a delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, time, timedelta

from kernel.events.alerts import AlertFiring, AlertResolved
from services.alerts.channels.domain import Attempt, Delivery, after_attempt, new_secret, retry_after, sign
from services.alerts.firing.domain import inhibited, new_alert, observe, settle
from services.alerts.rules.domain import Condition, Instance, Routing, Rule, Scope
from services.alerts.silences.domain import Matcher, Silence, Weekly

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def rule(for_seconds: float = 0, keep: float = 0, **scope: object) -> Rule:
    return Rule(
        id="00000000-0000-0000-0000-000000000001",
        project_id="p",
        name="busy",
        kind="threshold",
        severity="warning",
        condition=Condition(
            metric="cpu_utilization",
            operator=">",
            value=80,
            for_seconds=for_seconds,
            keep_firing_for_seconds=keep,
            scope=Scope(**scope),  # type: ignore[arg-type]
        ),
        channel_ids=(),
        routing=Routing(group_by=("instance_id",)),
        correlation_id="c",
        created_at=T0,
        updated_at=T0,
    )


def test_an_alert_is_pending_for_its_for_then_fires_once() -> None:
    r = rule(for_seconds=60)
    alert = new_alert("a", r, {"instance_id": "i-1"}, 95, "", T0, "c")
    assert alert.labels == {"instance_id": "i-1", "alertname": "busy", "severity": "warning"}
    assert alert.group_key == '{"instance_id": "i-1"}'
    held = settle(r, alert, T0 + timedelta(seconds=59))
    assert held.alert is not None and held.alert.state == "pending" and held.event is None
    fired = observe(r, alert, True, 96, "", T0 + timedelta(seconds=60))
    assert fired.alert is not None and fired.alert.state == "firing" and fired.event is not None
    assert isinstance(fired.event, AlertFiring) and fired.event.value == 96
    again = observe(r, fired.alert, True, 97, "", T0 + timedelta(seconds=61))
    assert again.event is None and again.alert is not None and again.alert.state == "firing"


def test_a_pending_alert_whose_condition_stops_holding_never_fired() -> None:
    r = rule(for_seconds=60)
    alert = new_alert("a", r, {"instance_id": "i-1"}, 95, "", T0, "c")
    assert observe(r, alert, False, 10, "", T0 + timedelta(seconds=30)).alert is None


def test_keep_firing_for_counts_from_the_last_judgement_that_held() -> None:
    r = rule(keep=30)
    fired = settle(r, new_alert("a", r, {"instance_id": "i-1"}, 95, "", T0, "c"), T0)
    assert fired.alert is not None and fired.alert.state == "firing"
    quiet = observe(r, fired.alert, False, 10, "", T0 + timedelta(seconds=100))
    assert quiet.alert is not None and quiet.alert.state == "firing" and not quiet.alert.holds
    assert settle(r, quiet.alert, T0 + timedelta(seconds=129)).event is None
    resolved = settle(r, quiet.alert, T0 + timedelta(seconds=130))
    assert resolved.alert is not None and resolved.alert.state == "resolved"
    assert isinstance(resolved.event, AlertResolved)
    assert resolved.event.firing_since == T0


def test_a_scope_needs_every_criterion_given() -> None:
    web = Instance("i-1", "p", "sim", {"app": "web"}, "tpl", "running")
    db = Instance("i-2", "p", "ec2", {"app": "db"}, None, "running")
    assert Scope().covers(None, None) and Scope().covers("i-9", None)
    tagged = Scope(tags={"app": "web"}, cloud_id="sim")
    assert tagged.covers("i-1", web) and not tagged.covers("i-2", db) and not tagged.covers("i-3", None)
    assert Scope(instance_ids=("i-2",)).covers("i-2", None) and not Scope(instance_ids=("i-2",)).covers("i-1", web)
    assert Scope(template_id="tpl").covers("i-1", web) and not Scope(template_id="tpl").covers("i-2", db)
    assert not tagged.covers(None, None)  # a sample of no server is outside a scope of servers


def test_silences_match_every_matcher_between_their_start_and_end() -> None:
    silence = Silence(
        "s",
        "p",
        (Matcher("alertname", "busy"), Matcher("instance_id", "i-[12]", regex=True)),
        T0,
        T0 + timedelta(hours=1),
        "",
        "user:a",
        T0,
    )
    labels = {"alertname": "busy", "instance_id": "i-1"}
    assert silence.silences(labels, T0 + timedelta(minutes=5))
    assert not silence.silences({**labels, "instance_id": "i-3"}, T0 + timedelta(minutes=5))
    assert not silence.silences(labels, T0 + timedelta(hours=1))
    assert not silence.silences(labels, T0 - timedelta(seconds=1))
    assert silence.state(T0 + timedelta(hours=2)) == "expired"


def test_a_weekly_window_is_read_in_its_time_zone_and_may_cross_midnight() -> None:
    # Saturday 22:00 for 4 hours in Paris (UTC+1 in December): Saturday 21:00 UTC to Sunday 01:00 UTC.
    window = Weekly(days=(5,), start=time(22, 0), duration_minutes=240, time_zone="Europe/Paris")
    saturday = datetime(2026, 12, 5, tzinfo=UTC)
    assert not window.covers(saturday.replace(hour=20, minute=59))
    assert window.covers(saturday.replace(hour=21))
    assert window.covers(saturday + timedelta(days=1, minutes=59))
    assert not window.covers(saturday + timedelta(days=1, hours=1))
    assert not window.covers(saturday - timedelta(days=1) + timedelta(hours=22))


def test_signatures_follow_the_standard_webhooks_specification() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    body = b'{"a":1}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()).decode()
    assert sign(secret, "msg_1", 1700000000, body) == "v1," + expected
    assert sign(secret, "msg_1", 1700000001, body) != "v1," + expected


def delivery() -> Delivery:
    return Delivery("d", "p", "c", {}, "pending", 0, T0, None, "", T0, T0)


def test_a_delivery_follows_the_schedule_honours_retry_after_and_gives_up() -> None:
    schedule = (5.0, 300.0)
    d, disable = after_attempt(delivery(), Attempt(500), schedule, T0)
    assert d.state == "pending" and d.attempts == 1 and d.next_attempt_at == T0 + timedelta(seconds=5) and not disable
    d, _ = after_attempt(d, Attempt(429, retry_after_seconds=42), schedule, T0)
    assert d.next_attempt_at == T0 + timedelta(seconds=42) and d.last_status == 429
    d, _ = after_attempt(d, Attempt(None, error="refused"), schedule, T0)
    assert d.state == "failed" and d.attempts == 3 and d.last_error == "refused" and d.next_attempt_at is None
    done, _ = after_attempt(delivery(), Attempt(204), schedule, T0)
    assert done.state == "delivered" and done.attempts == 1
    gone, disable = after_attempt(delivery(), Attempt(410), schedule, T0)
    assert gone.state == "failed" and disable
    assert (
        retry_after("7") == 7.0 and retry_after("Wed, 21 Oct 2026 07:28:00 GMT") is None and retry_after(None) is None
    )


def test_a_firing_alert_inhibits_the_alerts_its_rule_names_that_agree_on_the_equal_labels() -> None:
    routing = Routing(inhibits={"severity": "warning"}, inhibit_equal=("instance_id",))
    source = {"alertname": "down", "severity": "critical", "instance_id": "i-1"}
    assert routing.inhibits_alert(source, {"alertname": "busy", "severity": "warning", "instance_id": "i-1"})
    assert not routing.inhibits_alert(source, {"alertname": "busy", "severity": "warning", "instance_id": "i-2"})
    assert not routing.inhibits_alert(source, {"alertname": "busy", "severity": "info", "instance_id": "i-1"})
    assert not routing.inhibits_alert(source, source)
    assert not Routing().inhibits_alert(source, {"severity": "warning", "instance_id": "i-1"})
    assert inhibited({"severity": "warning", "instance_id": "i-1"}, [(source, routing)])
    assert Routing.from_json(routing.as_json()) == routing
