"""Waiting for states through the client: polls that come less often as time goes on, progress after each, the
records as they ended, and the two ways a wait fails (a state that cannot lead there, and time)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clanavi.client import WaitFailed, WaitProgress, WaitTimeout
from clanavi.client._waiting import FIRST_POLL, LONGEST_POLL
from tests.client_kit import MakeClient, Waits, done, instance
from tests.network import Network, ok


def states(instance_id: str, *sequence: str, **fields: Any) -> list[httpx.Response]:
    return [ok(instance(instance_id, state, **fields)) for state in sequence]


async def test_a_wait_polls_ever_less_often_and_reports_each_round(make: MakeClient, waits: Waits) -> None:
    network = Network(*states("i-1", "requested", "pending", "pending", "pending", "running"))
    heard: list[WaitProgress[Any]] = []
    running = await done(make(network).instances.wait_for("i-1", "running", timeout=60, progress=heard.append))

    assert running.state == "running"
    assert waits.seconds == [FIRST_POLL, FIRST_POLL * 1.5, FIRST_POLL * 1.5**2, FIRST_POLL * 1.5**3]
    assert [(p.records[0].state, p.done, p.total) for p in heard] == [
        ("requested", 0, 1),
        ("pending", 0, 1),
        ("pending", 0, 1),
        ("pending", 0, 1),
        ("running", 1, 1),
    ]
    assert heard[-1].elapsed == pytest.approx(sum(waits.seconds)) and heard[-1].timeout == 60


async def test_polls_come_at_most_the_longest_apart_and_the_last_at_the_deadline(
    make: MakeClient, waits: Waits
) -> None:
    network = Network(*states("i-1", *["pending"] * 20))
    with pytest.raises(WaitTimeout) as caught:
        await done(make(network).instances.wait_for("i-1", timeout=10))
    assert max(waits.seconds) <= LONGEST_POLL
    assert sum(waits.seconds) == pytest.approx(10)
    assert str(caught.value) == "not running after 10 s: instance i-1 pending"
    assert caught.value.records[0].state == "pending"


async def test_a_state_that_cannot_lead_there_ends_the_wait_with_its_reason(make: MakeClient) -> None:
    network = Network(*states("i-1", "pending"), *states("i-1", "error", reason="sim RunInstances: quota reached"))
    with pytest.raises(WaitFailed) as caught:
        await done(make(network).instances.wait_for("i-1", "running"))
    assert str(caught.value) == "instance i-1 is error, not running: sim RunInstances: quota reached"
    assert caught.value.record.state == "error"

    # Waiting for the very state that ends others is fine.
    network = Network(*states("i-2", "terminating", "terminated"))
    assert (await done(make(network).instances.wait_for("i-2", "terminated"))).state == "terminated"


async def test_waiting_for_several_reads_again_only_those_not_there_yet(make: MakeClient) -> None:
    network = Network(
        *states("a", "running"),
        *states("b", "pending"),
        *states("c", "pending"),
        *states("b", "running"),
        *states("c", "pending"),
        *states("c", "running"),
    )
    heard: list[tuple[int, int]] = []
    found = await done(
        make(network).instances.wait_for_all(
            ["a", "b", "c", "a"], "running", progress=lambda p: heard.append((p.done, p.total))
        )
    )
    assert [i.id for i in found] == ["a", "b", "c"]
    assert [r.url.path.rsplit("/", 1)[-1] for r in network.requests] == ["a", "b", "c", "b", "c", "c"]
    assert heard == [(1, 3), (2, 3), (3, 3)]


async def test_resources_and_sync_runs_are_waited_for_alike(make: MakeClient) -> None:
    volume = {
        "id": "v-1",
        "project_id": "default",
        "cloud_id": "sim",
        "name": "data",
        "provider_id": None,
        "pending_action": None,
        "reason": None,
        "created_at": "2026-12-01T12:00:00Z",
        "updated_at": "2026-12-01T12:00:00Z",
        "size_gb": 1,
        "zone": None,
        "instance_id": None,
        "device": None,
        "snapshot_id": None,
    }
    network = Network(ok({**volume, "state": "creating"}), ok({**volume, "state": "available"}))
    assert (await done(make(network).volumes.wait_for("v-1"))).state == "available"
    assert network.paths() == ["GET /v1/volumes/v-1"] * 2

    run = {
        "id": "s-1",
        "cloud_id": "sim",
        "project_id": "default",
        "trigger": "manual",
        "started_at": "2026-12-01T12:00:00Z",
        "finished_at": None,
        "adopted": 0,
        "drifted": 0,
        "vanished": 0,
        "unchanged": 0,
        "listed": 0,
        "list_calls": 1,
    }
    network = Network(
        ok({**run, "status": "running", "error": None}),
        ok({**run, "status": "failed", "error": "sim ListInstances: timed out"}),
    )
    with pytest.raises(WaitFailed, match="sync run s-1 is failed, not succeeded: sim ListInstances: timed out"):
        await done(make(network).clouds.wait_for_sync("sim", "s-1"))
    assert network.paths() == ["GET /v1/clouds/sim/syncs/s-1"] * 2
