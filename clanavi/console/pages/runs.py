"""Script runs: the form that runs an operational script on one running instance, or on several (those chosen in the
instances list, or every running one its filter matches) a few at a time; a run's page, whose output grows as the
run writes it; and the list of runs (a batch's among them), whose rows follow their run's state while it moves.

The run form is the launch form's: one field per input of the chosen script version, made from its type (a secret is
a password field, never filled in again). A run's page asks for the output from where it has read up to and appends
only what is new, once a second, until the run has ended and everything was read; a reload shows everything kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError, LaunchInput, NotFound, run_inputs
from clanavi.client.models import InstanceOut, RunOut, ScriptOut, ScriptVersionOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView, listed
from clanavi.console.pages.instances import catalogue
from clanavi.console.pages.template_launch import FIELD_PREFIX, input_field, input_values, shown_back
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit
from services.provisioner.templates.inputs import Value

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]

SORTS = (("created_at", "Asked for"), ("state", "State"), ("name", "Script"))
LINKED = (Filter("instance_id", "Instance id"), Filter.states(RunOut), Filter("batch_id", "Batch id"))
# What a run on several instances may be narrowed by (the API's filter), as the instances list names them.
FILTERS = (("cloud_id", "cloud"), ("template_id", "template"), ("name", "name"))
# The inputs whose fields offer a cloud's resources.
CATALOGUED = frozenset({"key_pair", "security_group"})
# Where a refusal names the instances a run was asked on, the form marks the fieldset that shows them.
TARGETS = frozenset({"instance_id", "instance_ids", "filter"})


def _field_of(parts: list[str]) -> str | None:
    if found := input_field(parts):
        return found
    if not parts:
        return None
    if parts[0] in TARGETS:
        return "targets"
    return "version" if parts[0] == "script_version" else parts[0]


@dataclass(frozen=True)
class Targets:
    """Where a run goes: one instance (its page's form), the instances chosen in the list, or every running instance
    matching a filter (empty: every running one)."""

    instance: InstanceOut | None = None
    instance_ids: tuple[str, ...] = ()
    matching: dict[str, str] | None = None
    concurrency: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "concurrency", self.instance is None)

    @classmethod
    def chosen(cls, ids: list[str], on: str, given: dict[str, str]) -> Targets:
        if on == "filter":
            return cls(matching={k: v for k, v in given.items() if v})
        return cls(instance_ids=tuple(dict.fromkeys(ids)))

    @property
    def action(self) -> str:
        if self.instance is not None:
            return f"{CONSOLE_PREFIX}/instances/{self.instance.id}/run"
        return f"{CONSOLE_PREFIX}/runs"

    @property
    def cloud_id(self) -> str:
        if self.instance is not None:
            return self.instance.cloud_id
        return (self.matching or {}).get("cloud_id", "")


async def _template_values(current: Visit, instance: InstanceOut | None) -> dict[str, Value]:
    """What the instance's template version sets: a run resolves it between the script's defaults and its own."""
    if instance is None or instance.template_id is None or instance.template_version is None:
        return {}
    found = await current.api.templates.version(instance.template_id, instance.template_version)
    return dict(found.values)


def _operational(versions: list[ScriptVersionOut]) -> list[ScriptVersionOut]:
    return [v for v in reversed(versions) if v.phase == "operational" and not v.deprecated]


async def _script_context(
    current: Visit, targets: Targets, script_id: str, version: str, values: dict[str, str], sent: bool
) -> dict[str, Any]:
    """The part of the form that depends on the script chosen: its operational versions and the chosen one's
    inputs."""
    context: dict[str, Any] = {
        "script": None, "versions": [], "chosen": None, "version": 0, "inputs": [], "values": values, "sent": sent,
        "key_pairs": [], "groups": [], "catalogued": False, "prefix_of_inputs": FIELD_PREFIX,
    }  # fmt: skip
    script: ScriptOut | None = None
    if script_id:
        try:
            script = await current.api.scripts.get(script_id)
        except NotFound:
            script = None  # the API names it when the form is sent
    if script is None:
        return context
    versions = _operational(await current.api.scripts.versions(script.id))
    chosen = next((v for v in versions if str(v.version) == version), versions[0] if versions else None)
    asked: list[LaunchInput] = []
    if chosen is not None:
        asked = run_inputs(chosen, await _template_values(current, targets.instance))
    if targets.cloud_id and any(each.spec.type in CATALOGUED for each in asked):
        offered = await catalogue(current, targets.cloud_id)
        context.update(
            key_pairs=offered["key_pairs"], groups=[(g.id, g.name) for g in offered["groups"]], catalogued=True
        )
    context.update(script=script, versions=versions, chosen=chosen, inputs=asked)
    context["version"] = chosen.version if chosen is not None else 0
    return context


async def _form_page(
    current: Visit, targets: Targets, values: dict[str, str], *, sent: bool = False, problem: Problem | None = None
) -> Response:
    scripts = (await current.api.scripts.list(sort="name", order="asc", limit=200).page()).items
    values = {"concurrency": "10", **values}
    context = await _script_context(
        current, targets, values.get("script_id", ""), values.get("version", ""), values, sent
    )
    where = targets.instance.name if targets.instance is not None else "several instances"
    return await current.page(
        "run_start.html",
        problem.status if problem else 200,
        title=f"Run a script on {where}",
        section="runs" if targets.instance is None else "instances",
        targets=targets,
        filter_names=FILTERS,
        scripts=[(s.id, s.name) for s in scripts],
        problem=problem,
        **context,
    )


@router.get("/instances/{instance_id}/run")
async def run_form(instance_id: str, current: Visiting, script_id: str = "", version: str = "") -> Response:
    instance = await current.api.instances.get(instance_id)
    return await _form_page(current, Targets(instance=instance), {"script_id": script_id, "version": version})


@router.get("/runs/new")
async def bulk_form(
    current: Visiting,
    instance_id: Annotated[list[str] | None, Query()] = None,
    on: str = "selected",
    cloud_id: str = "",
    template_id: str = "",
    name: str = "",
) -> Response:
    given = {"cloud_id": cloud_id, "template_id": template_id, "name": name}
    return await _form_page(current, Targets.chosen([i for i in instance_id or [] if i], on, given), {})


@router.get("/runs/inputs")
async def inputs_fragment(
    current: Visiting, script_id: str = "", version: str = "", instance_id: str = "", cloud_id: str = ""
) -> Response:
    """The form's script versions and inputs for another script or version, for htmx to swap in."""
    targets = (
        Targets(instance=await current.api.instances.get(instance_id))
        if instance_id
        else Targets(matching={"cloud_id": cloud_id} if cloud_id else {})
    )
    context = await _script_context(current, targets, script_id, version, {}, False)
    return current.fragment("_run_script.html", **context)


async def _body(current: Visit, form: Form, targets: Targets) -> tuple[dict[str, Any], list[LaunchInput]]:
    """The run as the API takes it, and the inputs the form asked for (to send none of its secrets back)."""
    context = await _script_context(current, targets, form.get("script_id"), form.get("version"), {}, True)
    asked: list[LaunchInput] = context["inputs"]
    body: dict[str, Any] = {"script_id": form.get("script_id"), "inputs": input_values(form, asked)}
    if context["chosen"] is not None:
        body["script_version"] = context["chosen"].version
    return body, asked


@router.post("/instances/{instance_id}/run")
async def start(instance_id: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    targets = Targets(instance=await current.api.instances.get(instance_id))
    body, asked = await _body(current, form, targets)
    try:
        run = await current.api.runs.start(instance_id, body)
    except (ApiError, ValidationError) as error:
        problem = Problem.of(error, _field_of)
        return await _form_page(current, targets, shown_back(form, asked), sent=True, problem=problem)
    return current.redirect(f"{CONSOLE_PREFIX}/runs/{run.id}")


@router.post("/runs")
async def start_many(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    matching = {name: form.get(f"filter-{name}") for name, _ in FILTERS}
    targets = Targets.chosen(form.getlist("instance_ids"), form.get("on"), matching)
    body, asked = await _body(current, form, targets)
    if concurrency := form.get("concurrency").strip():
        body["concurrency"] = int(concurrency) if concurrency.isdigit() else concurrency
    if targets.matching is not None:
        body["filter"] = targets.matching
    else:
        body["instance_ids"] = list(targets.instance_ids)
    problem = None
    try:
        batch = await current.api.runs.start_many(body)
        if not batch.items:
            problem = Problem("No running instance to run it on.", 422, fields={"targets": "None is running."})
    except (ApiError, ValidationError) as error:
        problem = Problem.of(error, _field_of)
    if problem is not None:
        return await _form_page(current, targets, shown_back(form, asked), sent=True, problem=problem)
    if batch.batch_id is None:
        return current.redirect(f"{CONSOLE_PREFIX}/runs/{batch.items[0].id}")
    return current.redirect(f"{CONSOLE_PREFIX}/runs?batch_id={batch.batch_id}&order=asc&limit=200")


@router.get("/runs")
async def runs(request: Request, current: Visiting) -> Response:
    view = ListView.read(f"{CONSOLE_PREFIX}/runs", request.query_params, LINKED, SORTS, default_order="desc")
    rows, problem = await listed(current.api.runs.list(**view.arguments()), view)
    batch = view.values["batch_id"]
    return await current.page(
        "runs.html",
        problem.status if problem else 200,
        title=f"Runs of batch {batch}" if batch else "Runs",
        section="runs",
        rows=rows,
        view=view,
        problem=problem,
    )


@router.get("/runs/{run_id}/row")
async def run_row(run_id: str, current: Visiting) -> Response:
    return current.fragment("_run_row.html", r=await current.api.runs.get(run_id))


def _follow(run_id: str, state: str, next_offset: int, ended: bool) -> dict[str, Any]:
    """The page's next ask for output: from `next_offset`, knowing the run was `state`; none once it `ended`."""
    return {"run_id": run_id, "next_offset": next_offset, "state": state, "following": not ended}


@router.get("/runs/{run_id}")
async def run_page(run_id: str, current: Visiting) -> Response:
    # The output first: a run read after it is at least as far along, so the page never shows an ended run's
    # output as followed to its end while its state still says running.
    piece = await current.api.runs.output(run_id)
    run = await current.api.runs.get(run_id)
    events = (await current.api.audit.list(resource_id=run_id, order="asc", limit=20).page()).items
    return await current.page(
        "run.html",
        title=f"Run of {run.name}",
        section="runs",
        run=run,
        text=piece.text,
        lost=piece.offset,
        events=events,
        **_follow(run.id, run.state, piece.next_offset, piece.ended),
    )


@router.get("/runs/{run_id}/output")
async def run_output(
    run_id: str, current: Visiting, offset: Annotated[int, Query(ge=0, le=2**62)] = 0, state: str = ""
) -> Response:
    """What the run wrote since `offset`, appended to the page's output; the run's facts again when its state changed
    since `state`; and the next ask, or none once the run has ended and everything was read."""
    piece = await current.api.runs.output(run_id, offset=offset)
    run = await current.api.runs.get(run_id) if piece.state != state or piece.ended else None
    return current.fragment(
        "_run_output.html",
        text=piece.text,
        lost=max(piece.offset - offset, 0),
        run=run,
        **_follow(run_id, run.state if run else state, piece.next_offset, piece.ended),
    )
