"""The rules of clusters, without I/O: the dependency graph (cycles named, order), member numbering that never
reuses a name, and the decisions `step` takes as members change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kernel.errors import InvalidState
from services.provisioner.clusters import domain
from services.provisioner.clusters.domain import ClusterRecord, Member, Role

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def role(name: str, count: int = 1, *after: str, next_n: int = 1) -> Role:
    return Role(name=name, template_id="t", count=count, cloud_id="sim", depends_on=after, next_n=next_n)


def cluster(*roles: Role, state: str = "launching", on_failure: domain.OnFailure = "degrade") -> ClusterRecord:
    return ClusterRecord("c1", "p", "shop", state, on_failure, roles, "corr", NOW, NOW)


def member(name: str, n: int, state: str | None = "running", **more: object) -> Member:
    status: domain.MemberStatus = "launched" if state is not None else "planned"
    return replace(
        Member("c1", name, n, f"shop-{name}-{n}", status, NOW, f"i-{name}-{n}", state),
        **more,  # type: ignore[arg-type]
    )


def test_a_cycle_is_named_in_order() -> None:
    assert domain.find_cycle({"a": ["c"], "b": ["a"], "c": ["b"], "d": []}) == ["a", "c", "b", "a"]
    assert domain.find_cycle({"a": [], "b": ["a"], "c": ["a", "b"]}) is None


def test_spec_problems_name_each_role() -> None:
    problems = domain.spec_problems(
        [role("a", 1, "b"), role("b", 1, "a"), role("b"), role("c", 1, "x"), role("d", 1, "d")]
    )
    assert {(p["location"], p["message"]) for p in problems} == {
        ("body.roles.2.name", "role b is given twice"),
        ("body.roles.3.depends_on.0", "no role x in this cluster"),
        ("body.roles.4.depends_on.0", "a role cannot depend on itself"),
        ("body.roles.0.depends_on", "dependency cycle: a -> b -> a"),
    }
    assert domain.spec_problems([replace(role("a"), cloud_id=None)]) == [
        {"location": "body.roles.0.cloud_id", "message": "name a cloud or give a placement policy"}
    ]


def test_roles_are_ordered_after_what_they_depend_on() -> None:
    roles = [role("web", 1, "app"), role("db"), role("app", 1, "db"), role("cache")]
    assert [r.name for r in domain.ordered(roles)] == ["db", "cache", "app", "web"]
    assert domain.dependents(roles, "db") == {"app", "web"}


def test_the_first_role_is_planned_alone_with_numbers_from_its_counter() -> None:
    c = cluster(role("db", 2), role("web", 2, "db"))
    decided = domain.step(c, [], NOW)
    assert [m.name for m in decided.plan] == ["shop-db-1", "shop-db-2"]
    assert {r.name: r.next_n for r in decided.cluster.roles} == {"db": 3, "web": 1}
    # Nothing more while the database is not all running.
    pending = [member("db", 1, "running"), member("db", 2, "pending")]
    assert not domain.step(decided.cluster, pending, NOW).changed


def test_dependents_follow_once_their_dependencies_run_and_then_the_cluster_runs() -> None:
    c = cluster(role("db", 1, next_n=2), role("web", 2, "db"))
    decided = domain.step(c, [member("db", 1)], NOW)
    assert [m.name for m in decided.plan] == ["shop-web-1", "shop-web-2"] and decided.cluster.state == "launching"
    done = domain.step(decided.cluster, [member("db", 1), member("web", 1), member("web", 2)], NOW)
    assert done.cluster.state == "running" and done.cluster.was_running
    assert [e.TYPE for e in done.events] == ["cluster.running"]
    assert [(r.role, r.desired, r.running) for r in done.events[0].roles] == [("db", 1, 1), ("web", 2, 2)]  # type: ignore[attr-defined]


def test_scaling_in_retires_the_newest_and_a_number_is_never_given_again() -> None:
    c = domain.scaled(cluster(role("web", 3, next_n=4), state="running"), "web", 1, NOW)
    running = [member("web", 1), member("web", 2), member("web", 3)]
    decided = domain.step(c, running, NOW)
    assert [m.name for m in decided.retire] == ["shop-web-2", "shop-web-3"]
    assert decided.terminate == ["i-web-2", "i-web-3"]
    grown = domain.scaled(decided.cluster, "web", 2, NOW)
    left = [running[0], *decided.retire]
    assert [m.name for m in domain.step(grown, left, NOW).plan] == ["shop-web-4"]


def test_a_failure_rolls_back_a_first_launch_but_degrades_a_cluster_that_ran() -> None:
    members = [member("db", 1), member("db", 2, "error"), member("db", 3, None)]
    first = domain.step(cluster(role("db", 3, next_n=4), on_failure="rollback"), members, NOW)
    assert first.cluster.state == "rolled_back" and first.cluster.reason == (
        "member shop-db-2 of role db failed: its instance is error"
    )
    assert first.terminate == ["i-db-1", "i-db-2"]
    assert [m.status for m in first.retire] == ["launched", "launched", "withdrawn"]
    ran = replace(cluster(role("db", 3, next_n=4), on_failure="rollback", state="scaling"), was_running=True)
    later = domain.step(ran, members, NOW)
    assert later.cluster.state == "degraded" and not later.plan and not later.terminate


def test_a_degraded_cluster_launches_nothing_until_retried() -> None:
    members = [member("db", 1), member("db", 2, "error")]
    degraded = domain.step(cluster(role("db", 2, next_n=3), role("web", 1, "db")), members, NOW).cluster
    assert degraded.state == "degraded"
    assert not domain.step(degraded, members, NOW).plan
    with pytest.raises(InvalidState):
        domain.scaled(degraded, "db", 3, NOW)
    again, changed = domain.retried(degraded, members, NOW)
    assert again.state == "launching" and [(m.name, m.retired) for m in changed] == [("shop-db-2", True)]
    after = [members[0], *changed]
    assert [m.name for m in domain.step(again, after, NOW).plan] == ["shop-db-3"]


def test_a_replaced_member_leaves_once_its_replacement_runs() -> None:
    c = cluster(role("app", 2, next_n=3), state="running")
    old = member("app", 1)
    c2, new, marked = domain.replacing(c, old, NOW)
    assert new.name == "shop-app-3" and marked.replaced_by == 3 and c2.state == "scaling"
    waiting = [marked, member("app", 2), replace(new, status="launched", instance_id="i-new", instance_state="pending")]
    assert not domain.step(c2, waiting, NOW).retire
    ready = [*waiting[:2], replace(waiting[2], instance_state="running")]
    decided = domain.step(c2, ready, NOW)
    assert [m.name for m in decided.retire] == ["shop-app-1"] and decided.terminate == ["i-app-1"]


def test_termination_goes_from_dependents_to_their_dependencies() -> None:
    c = domain.terminating(cluster(role("db"), role("web", 1, "db"), state="running"), NOW)
    members = [member("db", 1), member("web", 1)]
    first = domain.step(c, members, NOW)
    assert first.terminate == ["i-web-1"] and first.cluster.state == "terminating"
    ended = [replace(m, retired=True) for m in members]
    second = domain.step(first.cluster, [ended[0], replace(ended[1], instance_state="terminated")], NOW)
    assert second.terminate == ["i-db-1"]
    gone = [replace(m, instance_state="terminated") for m in ended]
    last = domain.step(second.cluster, gone, NOW)
    assert last.cluster.state == "terminated" and [e.TYPE for e in last.events] == ["cluster.terminated"]


def test_health_counts_the_members_a_role_counts_on() -> None:
    c = cluster(role("web", 4))
    members = [member("web", 1), member("web", 2, "pending"), member("web", 3, None), member("web", 4, retired=True)]
    (web,) = domain.health(c, members)
    assert web.states == {"running": 1, "pending": 1, "planned": 1} and web.health == 0.25


def test_a_rolled_back_cluster_is_looked_at_until_what_it_took_out_has_ended() -> None:
    members = [member("db", 1), member("db", 2, "error")]
    back = domain.step(cluster(role("db", 2, next_n=3), on_failure="rollback"), members, NOW)
    assert back.cluster.state == "rolled_back" and back.cluster.tidying
    retired = back.retire
    # A terminate lost to a restart is asked for again on the next look.
    again = domain.step(back.cluster, retired, NOW)
    assert again.terminate == ["i-db-1", "i-db-2"] and not again.changed
    ended = [replace(m, instance_state="terminated") for m in retired]
    done = domain.step(back.cluster, ended, NOW)
    assert not done.cluster.tidying and done.changed and not done.terminate
