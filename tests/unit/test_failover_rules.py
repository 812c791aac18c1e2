"""The failover service's pure rules: health from signals and grace, the breaker's window by target and by zone,
the remediation each action decides, and how a refresh moves in batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kernel.commands import MoveAddress, QuarantineInstance, RebootInstance, ReplaceInstance
from services.failover.health.domain import Member, Watch, assess, batch_size, breaker_trips
from services.failover.health.remediation import decide
from services.failover.policies.domain import Action, Breaker, Policy, Probe, Signals, Target
from services.failover.refreshes.domain import Refresh, next_step

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ident(n: int | str) -> str:
    return n if isinstance(n, str) else f"i-{n}"


def member(n: int | str, zone: str = "a", state: str = "running", **changes: object) -> Member:
    base = Member(
        instance_id=ident(n),
        project_id="p",
        cloud_id="sim",
        state=state,
        zone=zone,
        running_since=T0,
        template_version=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def watch(n: int | str, health: str = "healthy", unhealthy_since: datetime | None = None, **changes: object) -> Watch:
    base = Watch("pol", ident(n), "p", health, (), T0, unhealthy_since=unhealthy_since)  # type: ignore[arg-type]
    return replace(base, **changes)  # type: ignore[arg-type]


def policy(action: Action = "replace", **changes: object) -> Policy:
    base = Policy(
        id="pol",
        project_id="p",
        name="web",
        target=Target("scaling_group", scaling_group_id="g"),
        signals=Signals(),
        grace_seconds=60,
        action=action,
        breaker=Breaker(),
        correlation_id="c",
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --- health from signals --------------------------------------------------------------------------------------------


def test_the_cloud_saying_error_is_unhealthy_even_in_grace() -> None:
    verdict = assess(Signals(), 300, member(1, state="error"), watch(1), at(1))
    assert verdict.health == "unhealthy" and verdict.reasons == ("the cloud reports the instance in error",)


def test_an_instance_not_yet_running_is_unknown() -> None:
    assert assess(Signals(), 0, member(1, state="requested", running_since=None), watch(1), at(1)).health == "unknown"


def test_quiet_metrics_count_only_after_grace() -> None:
    signals = Signals(metrics_quiet_seconds=30)
    quiet = member(1, last_metric_at=None)
    assert assess(signals, 60, quiet, watch(1), at(59)).health == "healthy"  # booting: not judged yet
    verdict = assess(signals, 60, quiet, watch(1), at(61))
    assert verdict.health == "unhealthy" and "no metric sample for more than 30 s" in verdict.reasons
    sampled = replace(quiet, last_metric_at=at(50))
    assert assess(signals, 60, sampled, watch(1), at(61)).health == "healthy"
    assert assess(signals, 60, sampled, watch(1), at(81)).health == "unhealthy"


def test_heartbeats_are_their_own_signal() -> None:
    signals = Signals(heartbeat_seconds=10)
    beating = member(1, last_heartbeat_at=at(95), last_metric_at=None)
    assert assess(signals, 0, beating, watch(1), at(100)).health == "healthy"
    verdict = assess(signals, 0, beating, watch(1), at(106))
    assert verdict.reasons == ("no agent heartbeat for more than 10 s",)


def test_probes_need_their_thresholds_both_ways() -> None:
    signals = Signals(probe=Probe("tcp", 22, healthy_threshold=2, unhealthy_threshold=3))
    m = member(1, address="10.0.0.5")
    assert assess(signals, 0, m, watch(1, probe_failures=2), at(10)).health == "healthy"
    verdict = assess(signals, 0, m, watch(1, probe_failures=3), at(10))
    assert verdict.reasons == ("tcp probe on port 22 failed 3 times in a row",)
    # Unhealthy, one success: not yet healthy again; two in a row: healthy.
    assert assess(signals, 0, m, watch(1, "unhealthy", probe_successes=1), at(10)).health == "unhealthy"
    assert assess(signals, 0, m, watch(1, "unhealthy", probe_successes=2), at(10)).health == "healthy"
    assert assess(signals, 0, replace(m, address=None), watch(1), at(10)).reasons == ("no address to probe",)


# --- the breaker ----------------------------------------------------------------------------------------------------


def test_one_unhealthy_member_never_trips_the_breaker() -> None:
    members = [member(1), member(2)]
    assert breaker_trips(Breaker(max_unhealthy_percent=10), members, [watch(1, "unhealthy", T0)], at(1)) is None


def test_the_target_share_within_the_window_trips_it() -> None:
    members = [member(n) for n in range(10)]
    breaker = Breaker(max_unhealthy_percent=30, window_seconds=60)
    three = [watch(n, "unhealthy", at(n)) for n in range(3)]
    assert breaker_trips(breaker, members, three, at(5)) is None  # 30 %: not over
    four = [*three, watch(3, "unhealthy", at(3))]
    trip = breaker_trips(breaker, members, four, at(5))
    assert trip is not None and (trip.scope, trip.unhealthy, trip.members, trip.percent) == ("target", 4, 10, 40.0)
    # A minute later the first failures have left the window.
    assert breaker_trips(breaker, members, four, at(62)) is None


def test_replaced_members_still_count_so_a_cascade_trips_it() -> None:
    members = [member(n) for n in range(4)] + [member("old-1", state="terminated"), member("old-2", state="terminated")]
    watches = [watch("old-1", "unknown", at(1)), watch("old-2", "unknown", at(2)), watch(0, "unhealthy", at(3))]
    trip = breaker_trips(Breaker(max_unhealthy_percent=50, window_seconds=300), members, watches, at(4))
    assert trip is not None and trip.unhealthy == 3 and trip.members == 4


def test_a_zone_outage_trips_the_zone_breaker_though_the_target_is_mostly_fine() -> None:
    members = [member(n, zone) for n, zone in enumerate(["a", "a", "b", "b", "c", "c", "d", "d"])]
    breaker = Breaker(max_unhealthy_percent=50, zone_max_unhealthy_percent=50, window_seconds=60)
    assert breaker_trips(breaker, members, [watch(0, "unhealthy", at(1))], at(1)) is None
    trip = breaker_trips(breaker, members, [watch(0, "unhealthy", at(1)), watch(1, "unhealthy", at(1))], at(1))
    assert trip is not None and (trip.scope, trip.zone, trip.percent) == ("zone", "a", 100.0)
    # One failure in each of two zones is no zone outage.
    spread = [watch(0, "unhealthy", at(1)), watch(2, "unhealthy", at(1))]
    assert breaker_trips(breaker, members, spread, at(1)) is None
    # Without a zone limit only the target's share counts.
    assert breaker_trips(replace(breaker, zone_max_unhealthy_percent=None), members, spread, at(1)) is None


# --- remediation --------------------------------------------------------------------------------------------------


def test_each_action_decides_its_commands() -> None:
    failing = member(1)
    reboot = decide(policy("reboot"), failing, [], "probe failed")
    assert [type(c) for c in reboot.commands] == [RebootInstance] and reboot.new_instance_id is None
    quarantine = decide(policy("quarantine"), failing, [], "probe failed")
    assert [type(c) for c in quarantine.commands] == [QuarantineInstance]
    replacing = decide(policy("replace"), failing, [], "probe failed")
    (command,) = replacing.commands
    assert isinstance(command, ReplaceInstance) and command.new_instance_id == replacing.new_instance_id
    assert command.requested_by == "failover:pol" and command.reason == "probe failed"
    assert decide(policy("replace"), failing, [], "x").new_instance_id != replacing.new_instance_id


def test_promoting_a_standby_moves_the_address_to_the_longest_running_healthy_one() -> None:
    primary = member(1, address="203.0.113.9", address_id="addr-1")
    late, early = member(2, running_since=at(50)), member(3, running_since=at(10))
    sick = member(4, running_since=at(0))
    watched = [(watch(1, "unhealthy"), primary), (watch(2), late), (watch(3), early), (watch(4, "unhealthy"), sick)]
    decision = decide(policy("promote_standby"), primary, watched, "probe failed")
    move, replacement = decision.commands
    assert isinstance(move, MoveAddress) and (move.address_id, move.instance_id) == ("addr-1", "i-3")
    assert isinstance(replacement, ReplaceInstance) and replacement.instance_id == "i-1"
    # No healthy standby: nothing is done, and it says why.
    held = decide(policy("promote_standby"), primary, [(watch(1, "unhealthy"), primary)], "probe failed")
    assert held.commands == () and held.held is not None
    # A standby failing holds no address: it is only replaced.
    (only,) = decide(policy("promote_standby"), late, watched, "probe failed").commands
    assert isinstance(only, ReplaceInstance)


# --- instance refresh -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "healthy", "batch"), [(10, 90, 1), (10, 80, 2), (10, 0, 10), (3, 50, 1), (1, 100, 1)]
)
def test_a_batch_keeps_the_minimum_healthy_share(members: int, healthy: int, batch: int) -> None:
    assert batch_size(members, healthy) == batch


def refresh(**changes: object) -> Refresh:
    base = Refresh(
        id="r",
        project_id="p",
        policy_id="pol",
        template_id="t",
        template_version=2,
        min_healthy_percent=50,
        checkpoint_percent=None,
        state="running",
        correlation_id="c",
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_refresh_replaces_a_batch_then_waits_for_it_to_be_healthy_past_grace() -> None:
    olds = [(watch(n), member(n)) for n in range(4)]
    step = next_step(refresh(), olds, 30, at(100), ["n-1", "n-2", "n-3"])
    assert step.launch == {"i-0": "n-1", "i-1": "n-2"} and step.outcome == "continue"

    pending = refresh(pending={"i-0": "new-0", "i-1": "new-1"})
    booting = [*olds, (watch("new-0"), member("new-0", template_version=2, running_since=at(90)))]
    assert next_step(pending, booting, 30, at(100), ["x"]).launch == {}  # in grace: not settled, no room
    settled = next_step(pending, booting, 30, at(121), ["x"])
    assert settled.settled == {"i-0": "new-0"} and settled.launch == {"i-2": "x"}


def test_a_refresh_pauses_at_its_checkpoint_and_completes() -> None:
    done = refresh(checkpoint_percent=50, replaced={"i-0": "new-0", "i-1": "new-1"})
    news = [(watch(f"new-{n}"), member(f"new-{n}", template_version=2)) for n in range(2)]
    olds = [(watch(n), member(n)) for n in (2, 3)]
    assert next_step(done, [*news, *olds], 0, at(100), ["x"]).outcome == "checkpoint"
    assert next_step(replace(done, checkpoint_percent=None), [*news, *olds], 0, at(100), ["x", "y"]).launch == {
        "i-2": "x",
        "i-3": "y",
    }
    assert next_step(replace(done, checkpoint_percent=None), news, 0, at(100), []).outcome == "completed"


def test_a_new_server_failing_its_checks_rolls_the_refresh_back() -> None:
    pending = refresh(pending={"i-0": "new-0"})
    failing = [(watch(0), member(0)), (watch("new-0", "unhealthy", reasons=("probe failed",)), member("new-0"))]
    step = next_step(pending, failing, 0, at(100), ["x"])
    assert step.outcome == "rollback" and "new-0" in step.reason and "probe failed" in step.reason
