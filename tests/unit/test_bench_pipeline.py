"""The pipeline benchmark's own arithmetic: an event is consumed in the fan-out once every subscriber committed it,
CPU is divided per event for each process, and the fan-out's subscribers are the audit and distinct stand-ins."""

from __future__ import annotations

import asyncio
import uuid

from bench.pipeline import AuditSubscriber, StandIn, Tracker, cpu_per_item, cpu_per_item_each, fan_out_subscribers


def test_an_event_is_finished_when_the_last_subscriber_reports_it() -> None:
    async def run() -> None:
        tracker = Tracker(needed=3)
        event_id = uuid.uuid4()
        consumed = tracker.expect(event_id)
        tracker.start(event_id, 1.0)
        tracker.finish(event_id, 2.0)
        tracker.finish(event_id, 3.0)
        assert not consumed.done() and event_id not in tracker.finished
        tracker.finish(event_id, 4.0)
        assert consumed.result() == 4.0
        assert tracker.latencies([event_id]) == [3.0]

    asyncio.run(run())


def test_a_single_subscriber_finishes_at_once() -> None:
    async def run() -> None:
        tracker = Tracker()
        event_id = uuid.uuid4()
        consumed = tracker.expect(event_id)
        tracker.finish(event_id, 2.5)
        assert consumed.result() == 2.5

    asyncio.run(run())


def test_cpu_per_event_of_each_process_adds_up_to_the_total() -> None:
    cores: dict[str, float | None] = {"bench_process": 0.5, "postgres": 0.3, "rabbitmq": 0.2, "machine": 3.0}
    each = cpu_per_item_each(cores, 100.0)
    assert each == {"bench_process": 5.0, "postgres": 3.0, "rabbitmq": 2.0}
    assert cpu_per_item(cores, 100.0) == sum(v for v in each.values() if v is not None)
    assert cpu_per_item_each({"bench_process": 0.5, "postgres": None}, 100.0)["postgres"] is None
    assert cpu_per_item_each({"bench_process": 0.5}, 0.0) == {"bench_process": None}


def test_the_fan_out_is_the_audit_and_stand_ins_each_with_its_own_schema_and_queue() -> None:
    subscribers = fan_out_subscribers(5, tag="t")
    assert isinstance(subscribers[0], AuditSubscriber) and subscribers[0].service == "audit"
    assert all(isinstance(s, StandIn) for s in subscribers[1:])
    assert len({s.schema for s in subscribers}) == len({s.service for s in subscribers}) == 5
    assert len(fan_out_subscribers(1, tag="t")) == 1
