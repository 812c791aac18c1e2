"""Script runs over SSH: start them on one instance or several, read them, follow their output, wait for their end."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from clanavi.client._calls import Call, body, model_of, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation, procedure, stream
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._steps import Emit, Now, Pause, Plan, Stream, fetch
from clanavi.client._waiting import Progress, wait
from clanavi.client.errors import WaitTimeout
from services.provisioner.runs.schemas import BulkRunIn, ProjectKeyOut, RunBatchOut, RunIn, RunOut, RunOutputOut

__all__ = ["ENDED", "Runs"]

Body = Mapping[str, Any]
# The states a run ends in; `succeeded` is what a wait waits for, the others end it as a failure.
ENDED = ("succeeded", "failed", "timed_out")


def _one(run_id: str) -> Call[RunOut]:
    return Call("GET", path("/v1/runs/{}", run_id), model_of(RunOut))


def _output(run_id: str, offset: int) -> Call[RunOutputOut]:
    return Call("GET", path("/v1/runs/{}/output", run_id), model_of(RunOutputOut), query(offset=offset))


def _state(run: RunOut) -> str:
    return run.state


class Runs(Namespace[M]):
    """`/v1/runs`: operational scripts run on running instances over SSH; each answers at once (202, `queued`)."""

    @listing
    def list(
        self,
        *,
        instance_id: str | None = None,
        batch_id: str | None = None,
        state: str | Collection[str] | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[RunOut]:
        """The project's runs, newest first unless `order` says otherwise; several states match any of them."""
        filters = query(instance_id=instance_id, batch_id=batch_id, state=state)
        return Listing("/v1/runs", page_of(RunOut), filters, query(sort=sort, order=order), limit)

    @listing
    def of_instance(
        self, instance_id: str, *, sort: str | None = None, order: Order | None = None, limit: int | None = None
    ) -> Listing[RunOut]:
        """One instance's runs (not found when the instance is not the project's)."""
        route = path("/v1/instances/{}/runs", instance_id)
        return Listing(route, page_of(RunOut), (), query(sort=sort, order=order), limit)

    @operation
    def get(self, run_id: str) -> Call[RunOut]:
        return _one(run_id)

    @operation
    def start(
        self,
        instance_id: str,
        run: RunIn | Body,
        *,
        idempotency_key: str | None = None,
    ) -> Call[RunOut]:
        """Run an operational script (`script_id`, `script_version`: its latest unless named, `inputs`) on a running
        instance."""
        route = path("/v1/instances/{}/runs", instance_id)
        return Call("POST", route, model_of(RunOut), content=body(RunIn, run), idempotency_key=idempotency_key)

    @operation
    def start_many(self, runs: BulkRunIn | Body, *, idempotency_key: str | None = None) -> Call[RunBatchOut]:
        """Run a script on `instance_ids`, or the running instances matching `filter`, `concurrency` at a time."""
        content = body(BulkRunIn, runs)
        return Call("POST", "/v1/runs", model_of(RunBatchOut), content=content, idempotency_key=idempotency_key)

    @operation
    def output(self, run_id: str, *, offset: int = 0) -> Call[RunOutputOut]:
        """The run's output from byte `offset` (secrets masked); ask again from `next_offset` until `ended`."""
        return _output(run_id, offset)

    @operation
    def key(self) -> Call[ProjectKeyOut]:
        """The project's SSH public key, which runs log in with (template launches authorize it by themselves)."""
        return Call("GET", "/v1/runs/key", model_of(ProjectKeyOut))

    @stream
    def follow(
        self, run_id: str, *, offset: int = 0, interval: float = 0.5, timeout: float | None = None
    ) -> Stream[RunOutputOut]:
        """The run's output as it comes, a piece at a time (only pieces with text), until the run has ended and all
        of it was read; WaitTimeout after `timeout` seconds. A piece whose `offset` is past where the last one ended
        says output was lost in between (only the last 256 KiB are kept)."""
        started: float = yield Now()
        while True:
            piece = yield from fetch(_output(run_id, offset))
            if piece.text:
                yield Emit(piece)
            if piece.ended:
                return
            if timeout is not None and (yield Now()) - started >= timeout:
                run = yield from fetch(_one(run_id))
                raise WaitTimeout("run", [run], ENDED, timeout)
            if piece.next_offset == offset:
                yield Pause(interval)
            offset = piece.next_offset

    @procedure
    def wait_for(
        self,
        run_id: str,
        *,
        timeout: float = 300.0,
        progress: Progress[RunOut] | None = None,
    ) -> Plan[RunOut]:
        """Wait until the run has ended: answers it when it succeeded; raises WaitFailed when it failed or timed out,
        WaitTimeout after `timeout` seconds."""
        found = yield from wait(
            "run", [run_id], _one, _state, ("succeeded",), ENDED, timeout=timeout, progress=progress
        )
        return found[0]

    @procedure
    def wait_for_all(
        self,
        run_ids: Sequence[str],
        state: str | Collection[str] = ENDED,
        *,
        timeout: float = 300.0,
        progress: Progress[RunOut] | None = None,
    ) -> Plan[builtins.list[RunOut]]:
        """Wait until every run is in `state` (default: ended, however); raises WaitTimeout after `timeout`."""
        targets = (state,) if isinstance(state, str) else tuple(state)
        return (yield from wait("run", run_ids, _one, _state, targets, (), timeout=timeout, progress=progress))
