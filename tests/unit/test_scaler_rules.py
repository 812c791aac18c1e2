"""The scaler's pure rules: target tracking, step adjustments, cron, the stabilisation window, the max cap, the
termination order, protection and backoff."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kernel.errors import ValidationFailed
from services.scaler.decisions.domain import Sample, backoff_seconds, choose_to_terminate, decide, plan, reading_of
from services.scaler.groups.domain import Group, Member, Reading, check_bounds, check_termination_policies
from services.scaler.policies.cron import CronError, parse_cron
from services.scaler.policies.domain import Policy, Step, step_adjustment, target_tracking

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CPU = Policy("p-cpu", "g", "p1", "cpu", "target_tracking", metric="cpu_utilization", target=60.0)


def group(**changes: object) -> Group:
    base = Group("g", "p1", "web", "t", 1, min_size=1, max_size=10, desired=3)
    return replace(base, **changes)  # type: ignore[arg-type]


def member(n: int, state: str = "running", **changes: object) -> Member:
    base = Member(f"i-{n}", "g", "p1", state, T0 - timedelta(minutes=n), running_since=T0 - timedelta(hours=1))  # type: ignore[arg-type]
    return replace(base, **changes)  # type: ignore[arg-type]


def reading(value: float, current: int, at: datetime = T0) -> Reading:
    return Reading(value=value, samples=current, current=current, at=at.timestamp(), unit="%")


# --- target tracking -------------------------------------------------------------------------------------------


def test_target_tracking_is_the_hpa_formula() -> None:
    assert target_tracking(3, 82, 60, 0.1) == 5  # ceil(3 x 82 / 60) = ceil(4.1)
    assert target_tracking(3, 80, 60, 0.1) == 4  # exactly 4, not 4.000000000000001 rounded up
    assert target_tracking(4, 30, 60, 0.1) == 2


def test_within_the_tolerance_nothing_changes() -> None:
    assert target_tracking(3, 65, 60, 0.1) == 3
    assert target_tracking(3, 55, 60, 0.1) == 3
    assert target_tracking(3, 67, 60, 0.1) == 4


def test_a_decision_says_why_in_words() -> None:
    g = group(readings={"p-cpu": reading(82, 3)}, streaks={"p-cpu": 1})
    decision = decide(g, [CPU], T0, warming=False)
    assert decision.desired == 5
    assert decision.reason == "scaled out 3 -> 5: cpu_utilization 82 % > target 60 % for 2 samples"
    assert decision.inputs["policies"]["p-cpu"]["proposal"] == 5  # type: ignore[index]


def test_scale_out_is_capped_by_max() -> None:
    decision = decide(group(max_size=4, readings={"p-cpu": reading(99, 3)}), [CPU], T0, warming=False)
    assert decision.desired == 4


def test_out_if_any_policy_says_so_in_only_if_all_agree() -> None:
    net = Policy("p-net", "g", "p1", "net", "target_tracking", metric="network_in_bytes", target=1000.0)
    # cpu wants in, network wants out: out wins
    g = group(readings={"p-cpu": reading(20, 3), "p-net": reading(2000, 3)})
    assert decide(g, [CPU, net], T0, warming=False).desired == 6
    # cpu wants in, network holds: nothing
    g = group(readings={"p-cpu": reading(20, 3), "p-net": reading(1000, 3)}, stabilisation_seconds=0)
    assert decide(g, [CPU, net], T0, warming=False).desired == 3
    # both want in: the larger of their proposals
    g = group(readings={"p-cpu": reading(20, 3), "p-net": reading(500, 3)}, stabilisation_seconds=0)
    assert decide(g, [CPU, net], T0, warming=False).desired == 2


def test_no_scale_in_while_a_member_warms_up() -> None:
    g = group(readings={"p-cpu": reading(10, 3)}, stabilisation_seconds=0)
    assert decide(g, [CPU], T0, warming=True).desired == 3
    assert decide(g, [CPU], T0, warming=False).desired == 1


def test_a_stale_reading_does_not_vote() -> None:
    g = group(readings={"p-cpu": reading(99, 3, at=T0 - timedelta(minutes=5))})
    assert decide(g, [CPU], T0, warming=False).desired == 3


def test_scale_in_waits_for_the_stabilisation_window() -> None:
    """A load that dips holds the group at the window's highest recommendation: no flapping."""
    g = group(desired=5, readings={"p-cpu": reading(60, 5)})
    d = decide(g, [CPU], T0, warming=False)  # on target: recommends 5
    g = replace(g, recent=d.recent, streaks=d.streaks)
    for second in range(1, 300, 10):
        now = T0 + timedelta(seconds=second)
        g = replace(g, readings={"p-cpu": reading(20, 5, at=now)})
        d = decide(g, [CPU], now, warming=False)
        assert d.desired == 5, second
        g = replace(g, recent=d.recent, streaks=d.streaks)
    later = T0 + timedelta(seconds=301)
    g = replace(g, readings={"p-cpu": reading(20, 5, at=later)})
    d = decide(g, [CPU], later, warming=False)
    assert d.desired == 2  # ceil(5 x 20 / 60)
    assert d.reason.startswith("scaled in 5 -> 2: cpu_utilization 20 % < target 60 %")


def test_the_window_keeps_only_what_can_still_be_its_highest() -> None:
    g = group(desired=5, stabilisation_seconds=300)
    for second, value in enumerate((60, 50, 40, 30)):
        now = T0 + timedelta(seconds=second)
        g = replace(g, readings={"p-cpu": reading(value, 5, at=now)})
        d = decide(g, [CPU], now, warming=False)
        g = replace(g, recent=d.recent)
    assert [r for _, r in g.recent] == [5, 4, 3]  # 60 -> 5, 50 -> 5 (tolerance) replaces it, 40 -> 4, 30 -> 3


def test_a_reading_counts_only_members_past_their_warmup() -> None:
    policy = replace(CPU, warmup_seconds=60)
    warm, cold = T0 - timedelta(minutes=5), T0 - timedelta(seconds=10)
    samples = [Sample(90.0, "%", warm), Sample(10.0, "%", cold)]
    r = reading_of(policy, samples, [warm, cold], T0)
    assert r is not None and (r.value, r.samples, r.current) == (90.0, 1, 1)
    assert reading_of(policy, [Sample(10.0, "%", cold)], [cold], T0) is None
    group_level = reading_of(policy, [Sample(42.0, "", None)], [warm], T0)
    assert group_level is not None and group_level.value == 42.0


# --- step ------------------------------------------------------------------------------------------------------


STEPS = (Step(1, 70, 85), Step(3, 85, None), Step(-1, None, 30))


def test_step_adjustments_of_each_type() -> None:
    assert step_adjustment(4, 75, STEPS, "ChangeInCapacity", 0) == 5
    assert step_adjustment(4, 90, STEPS, "ChangeInCapacity", 0) == 7
    assert step_adjustment(4, 20, STEPS, "ChangeInCapacity", 0) == 3
    assert step_adjustment(4, 50, STEPS, "ChangeInCapacity", 0) is None
    assert step_adjustment(4, 90, STEPS, "ExactCapacity", 0) == 3
    pct = (Step(50, 80, None),)
    assert step_adjustment(10, 90, pct, "PercentChangeInCapacity", 0) == 15
    assert step_adjustment(1, 90, pct, "PercentChangeInCapacity", 0) == 2  # at least one
    assert step_adjustment(10, 90, (Step(10, 80, None),), "PercentChangeInCapacity", 3) == 13  # min magnitude


def test_a_step_policy_waits_out_the_cooldown() -> None:
    step = Policy("p-step", "g", "p1", "q", "step", metric="queue", steps=STEPS)
    g = group(readings={"p-step": reading(90, 3)}, last_scaled_at=T0 - timedelta(seconds=100))
    assert decide(g, [step], T0, warming=False).desired == 3
    g = replace(g, last_scaled_at=T0 - timedelta(seconds=301))
    assert decide(g, [step], T0, warming=False).desired == 6


# --- cron ------------------------------------------------------------------------------------------------------


def test_cron_fires_in_its_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    cron = parse_cron("30 8 * * mon-fri")
    # Sunday 1 March 2026, noon UTC: next is Monday 08:30 in Paris, 07:30 UTC
    assert cron.next_after(T0, paris) == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert parse_cron("*/15 * * * *").next_after(T0, ZoneInfo("UTC")) == T0 + timedelta(minutes=15)


def test_cron_skips_a_wall_time_daylight_saving_skips() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 02:30 does not exist in Paris on 29 March 2026; the next one is on the 30th (00:30 UTC, summer time)
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert parse_cron("30 2 * * *").next_after(start, paris) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_a_cron_that_never_fires_has_no_next_time() -> None:
    assert parse_cron("0 0 30 2 *").next_after(T0, ZoneInfo("UTC")) is None
    assert parse_cron("0 0 29 2 *").next_after(T0, ZoneInfo("UTC")) == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "5-2 * * * *"])
def test_a_cron_cron_does_not_understand_is_refused(bad: str) -> None:
    with pytest.raises(CronError):
        parse_cron(bad)


# --- bounds, cap, termination, backoff -------------------------------------------------------------------------


def test_bad_bounds_are_422_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as min_over_max:
        check_bounds(5, 2, 3)
    assert min_over_max.value.extensions["errors"][0]["location"] == "body.min_size"
    with pytest.raises(ValidationFailed) as outside:
        check_bounds(1, 3, 4)
    assert outside.value.extensions["errors"][0]["location"] == "body.desired"
    with pytest.raises(ValidationFailed):
        check_termination_policies(("oldest", "zone_balance"))


def test_max_caps_members_in_every_state() -> None:
    """A cloud that fails every launch leaves members in error: they count until they are gone."""
    g = group(desired=4, max_size=4)
    failed = [member(1, "error"), member(2, "error"), member(3, "terminating")]
    assert plan(g, failed, T0).launch == 1
    assert plan(g, [*failed, member(4, "requested")], T0).launch == 0
    assert [m.instance_id for m in plan(g, failed, T0).clear] == ["i-1", "i-2"]


def test_nothing_launches_while_launches_back_off() -> None:
    g = group(desired=3, backoff_until=T0 + timedelta(seconds=5))
    assert plan(g, [], T0).launch == 0
    assert plan(g, [], T0 + timedelta(seconds=5)).launch == 3


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_seconds(n, 10, 60) for n in range(1, 6)] == [10, 20, 40, 60, 60]


def test_zone_balance_comes_first_then_the_oldest_version() -> None:
    members = [
        member(1, zone="a", template_version=2),
        member(2, zone="a", template_version=1),
        member(3, zone="b", template_version=1),
    ]
    chosen = choose_to_terminate(members, 2, ("zone_balance", "oldest_template_version"), T0)
    # zone a is the busiest: its oldest version goes; then the zones are even, and the older version goes
    assert [m.instance_id for m in chosen] == ["i-2", "i-3"]


def test_oldest_newest_and_billing_hour() -> None:
    members = [member(1), member(5), member(59)]
    assert choose_to_terminate(members, 1, ("oldest",), T0)[0].instance_id == "i-59"
    assert choose_to_terminate(members, 1, ("newest",), T0)[0].instance_id == "i-1"
    # i-59 started 59 minutes ago: one minute before its next billing hour
    assert choose_to_terminate(members, 1, ("closest_to_billing_hour",), T0)[0].instance_id == "i-59"


def test_a_protected_member_is_never_chosen() -> None:
    members = [member(1, protected=True), member(2, protected=True), member(3)]
    chosen = choose_to_terminate(members, 3, ("oldest",), T0)
    assert [m.instance_id for m in chosen] == ["i-3"]
    g = group(desired=0, min_size=0)
    assert [m.instance_id for m in plan(g, members, T0).remove] == ["i-3"]


def test_a_member_waiting_in_a_hook_is_not_chosen() -> None:
    members = [member(1, hook="drain", hook_deadline=T0), member(2)]
    assert [m.instance_id for m in choose_to_terminate(members, 2, ("oldest",), T0)] == ["i-2"]
