"""The run routes: parse, call a handler, shape the answer. Reached only through the gateway, which serves them from
these declarations. Readers may read runs and their output; starting one takes an operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.listing import RecordPaging
from services.provisioner.runs import handlers
from services.provisioner.runs.domain import ENDED, OUTPUT_LIMIT, RunRecord, RunState, complete_utf8
from services.provisioner.runs.repository import RunFilter
from services.provisioner.runs.schemas import BulkRunIn, ProjectKeyOut, RunBatchOut, RunIn, RunOut, RunOutputOut
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "runs")


def run_out(record: RunRecord) -> RunOut:
    return RunOut.model_validate(record, from_attributes=True)


def _request(caller_project: str, body: RunIn) -> handlers.RunRequest:
    return handlers.RunRequest(
        project_id=caller_project,
        script_id=body.script_id,
        version=body.script_version,
        inputs=body.inputs,
        correlation_id=correlation_id(),
    )


@routes.post(
    "/instances/{instance_id}/runs",
    RunOut,
    "Run an operational script on a running instance over SSH",
    status=202,
    problems=(403, 404, 409, 501),
    description="The script version (its latest unless named) is filled with its inputs, resolved as a launch "
    "resolves them, and run by the provisioner's worker over SSH with the project's key, accepting only the host "
    "keys the instance's console shows (cloud-init prints them at first boot): a different key fails the run "
    "(`host_key_mismatch`). A stopped instance is a 409. Events `script_run.queued`, `.started`, `.succeeded`, "
    "`.failed`, `.timed_out`.",
)
async def start_run(request: Request, instance_id: str, body: RunIn, caller: Operator) -> Response:
    made = await handlers.start_runs(
        uow_of(request), clouds_of(request), _request(caller.project_id, body), [instance_id]
    )
    return answer(run_out(made[0]), status=202)


@routes.get("/instances/{instance_id}/runs", Page[RunOut], "An instance's runs, newest first", problems=(404,))
async def list_instance_runs(request: Request, instance_id: str, caller: Reader, paging: RecordPaging) -> Response:
    flt = RunFilter(project_id=caller.project_id, instance_id=instance_id)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(RunOut, records, next_cursor)


@routes.post(
    "/runs",
    RunBatchOut,
    "Run an operational script on several running instances, a few at a time",
    status=202,
    problems=(403, 409, 501),
    description="`instance_ids`, or the project's running instances matching `filter`; at most `concurrency` run at "
    "once. Every instance must be running: nothing is queued otherwise (each problem names its field).",
)
async def start_runs(request: Request, body: BulkRunIn, caller: Operator) -> Response:
    uow = uow_of(request)
    ids, location = list(body.instance_ids), "body.instance_ids"
    if body.filter is not None:
        ids += await handlers.matching(
            uow, caller.project_id, body.filter.cloud_id, body.filter.template_id, body.filter.name
        )
    made = await handlers.start_runs(
        uow, clouds_of(request), _request(caller.project_id, body), ids, location=location, concurrency=body.concurrency
    )
    batch = made[0].batch_id if made else None
    return answer(RunBatchOut(batch_id=batch, items=[run_out(r) for r in made]), status=202)


@routes.get("/runs", Page[RunOut], "List runs, newest first")
async def list_runs(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    instance_id: str | None = None,
    batch_id: str | None = None,
    state: Annotated[list[RunState] | None, Query(description="Repeat to match several")] = None,
) -> Response:
    flt = RunFilter(project_id=caller.project_id, instance_id=instance_id, states=state or (), batch_id=batch_id)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(RunOut, records, next_cursor)


@routes.get("/runs/key", ProjectKeyOut, "The project's SSH public key, which runs log in with")
async def project_key(request: Request, caller: Reader) -> Response:
    key = await handlers.project_public_key(uow_of(request), clouds_of(request).keyring, caller.project_id)
    return answer(ProjectKeyOut(public_key=key))


@routes.get("/runs/{run_id}", RunOut, "One run", problems=(404,))
async def get_run(request: Request, run_id: str, caller: Reader) -> Response:
    return answer(run_out(await handlers.get(uow_of(request), caller.project_id, run_id)))


@routes.get(
    "/runs/{run_id}/output",
    RunOutputOut,
    "A run's output from a byte offset, as it comes",
    problems=(404,),
    description="Standard output and error together, secrets masked. Ask again from `next_offset` until `ended`.",
)
async def run_output(
    request: Request,
    run_id: str,
    caller: Reader,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    record, found = await handlers.output(uow_of(request), caller.project_id, run_id, offset, OUTPUT_LIMIT)
    ended = record.state in ENDED
    data = found.data if ended else complete_utf8(found.data)
    next_offset = found.offset + len(data)
    return answer(
        RunOutputOut(
            run_id=record.id,
            offset=found.offset,
            next_offset=next_offset,
            text=data.decode(errors="replace"),
            ended=ended and next_offset >= found.total,
            state=record.state,
        )
    )


__all__ = ["router"]
