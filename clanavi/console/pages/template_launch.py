"""Launch from a server template: the form shows one field per input the chosen version (and the scripts it runs)
declares, made from its type: text (with its pattern), a number (its bounds), a checkbox, a choice, a password field
for a secret (never filled in again), and the key pairs or security groups of the chosen cloud. Changing the version
or the cloud swaps the inputs in place (htmx). The API checks every value: its refusals are marked on their fields;
a launch goes to the new instance's page.

The browser's own checks are off (`novalidate`): the API's are the ones that count, and its words are shown beside
the field the same way whatever the browser would have said."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError, LaunchInput, launch_inputs, script_refs, typed_input
from clanavi.client.models import TemplateOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.pages import placement
from clanavi.console.pages.instances import catalogue
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit
from services.provisioner.templates.inputs import Value

__all__ = ["FIELD_PREFIX", "input_field", "input_values", "router", "shown_back"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
# A form field's name for an input: its own name could be one of the form's (`name`, `cloud_id`).
FIELD_PREFIX = "input-"


def input_field(parts: list[str]) -> str | None:
    """The form's field of an input a refusal names (`inputs.site`), or None for another location."""
    return FIELD_PREFIX + parts[1] if len(parts) >= 2 and parts[0] == "inputs" else None


def _field_of(parts: list[str]) -> str | None:
    if field := input_field(parts):
        return field
    if parts and parts[0] == "template_version":
        return "version"
    return parts[0] if parts else None


async def _inputs(current: Visit, template: TemplateOut, version: int) -> list[LaunchInput]:
    api = current.api
    found = await api.templates.version(template.id, version)
    refs = {(ref.script_id, ref.version) for ref in script_refs(found)}
    return launch_inputs(found, {ref: await api.scripts.version(*ref) for ref in refs})


def _version(text: str, template: TemplateOut) -> int:
    return int(text) if text.isdigit() and int(text) >= 1 else template.default_version


async def _inputs_context(
    current: Visit, template: TemplateOut, version: int, cloud_id: str, values: dict[str, str], sent: bool
) -> dict[str, Any]:
    offered = await catalogue(current, cloud_id) if cloud_id else {"key_pairs": [], "groups": []}
    return {
        "tpl": template,
        "version": version,
        "inputs": await _inputs(current, template, version),
        "key_pairs": offered["key_pairs"],
        "groups": [(g.id, g.name) for g in offered["groups"]],
        "values": values,
        "sent": sent,
        "prefix_of_inputs": FIELD_PREFIX,
    }


async def _launch_page(
    current: Visit,
    template_id: str,
    values: dict[str, str],
    *,
    sent: bool = False,
    problem: Problem | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    template = await current.api.templates.get(template_id)
    versions = await current.api.templates.versions(template_id)
    version = _version(values.get("version", ""), template)
    clouds = [c async for c in current.api.clouds.list(limit=100) if c.enabled]
    named = {c.id for c in clouds}
    first = next((v for v in versions if v.version == version), None)
    preferred = [c.cloud_id for c in first.clouds if c.cloud_id in named] if first else []
    cloud_id = values.get("cloud_id") or (preferred[0] if preferred else clouds[0].id if clouds else "")
    values = {**values, "cloud_id": cloud_id, "version": str(version)}
    return await current.page(
        "template_launch.html",
        problem.status if problem else 200,
        title=f"Launch from {template.name}",
        section="templates",
        versions=[
            (str(v.version), f"{v.version}{' (default)' if v.version == template.default_version else ''}")
            for v in reversed(versions)
            if not v.deprecated or v.version == version
        ],
        clouds=[(c.id, f"{c.name} ({c.driver})") for c in clouds],
        problem=problem,
        strategies=placement.STRATEGIES,
        preview=preview,
        **await _inputs_context(current, template, version, cloud_id, values, sent),
    )


@router.get("/templates/{template_id}/launch")
async def launch_form(template_id: str, current: Visiting, version: str = "", cloud_id: str = "") -> Response:
    return await _launch_page(current, template_id, {"version": version, "cloud_id": cloud_id})


@router.get("/templates/{template_id}/launch/inputs")
async def launch_inputs_fragment(
    template_id: str, current: Visiting, version: str = "", cloud_id: str = ""
) -> Response:
    """The form's inputs for another version or cloud, for htmx to swap in."""
    template = await current.api.templates.get(template_id)
    context = await _inputs_context(current, template, _version(version, template), cloud_id, {}, False)
    return current.fragment("_template_inputs.html", **context)


def input_values(form: Form, asked: list[LaunchInput]) -> dict[str, Value]:
    """The inputs the form sets: a field left empty leaves its input to the template (or the declared default); a
    box sends whether it is ticked, unless that is what the input has anyway."""
    found: dict[str, Value] = {}
    for each in asked:
        field = FIELD_PREFIX + each.spec.name
        if each.spec.type == "boolean":
            ticked = form.get(field) == "true"
            if ticked != each.preset:
                found[each.spec.name] = ticked
        elif text := form.get(field):
            found[each.spec.name] = typed_input(each.spec.type, text)
    return found


def shown_back(form: Form, asked: list[LaunchInput]) -> dict[str, str]:
    """The form's values to show it again with: a secret is never sent back to the browser, not even to the one that
    typed it."""
    secrets = {FIELD_PREFIX + each.spec.name for each in asked if each.secret}
    return {k: v for k, v in form.values().items() if k not in secrets}


async def _template_body(current: Visit, template_id: str, form: Form) -> tuple[dict[str, Any], list[LaunchInput]]:
    template = await current.api.templates.get(template_id)
    version = _version(form.get("version"), template)
    asked = await _inputs(current, template, version)
    body = {
        "name": form.get("name").strip(),
        "cloud_id": form.get("cloud_id"),
        "template_id": template.id,
        "template_version": version,
        "inputs": input_values(form, asked),
    }
    return placement.placed(form, body), asked


@router.post("/templates/{template_id}/launch/preview")
async def launch_preview(template_id: str, request: Request, current: Visiting) -> Response:
    """The form's launch as a dry run: in the form (htmx), or the whole form again with it."""
    form = await checked_form(request, current.session)
    body, asked = await _template_body(current, template_id, form)
    seen = await placement.preview(current, body, _field_of)
    if placement.asked_htmx(request):
        return current.fragment("_launch_preview.html", placement.status_of(seen), preview=seen)
    return await _launch_page(current, template_id, shown_back(form, asked), sent=True, preview=seen)


@router.post("/templates/{template_id}/launch")
async def launch(template_id: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    body, asked = await _template_body(current, template_id, form)
    try:
        instance = await current.api.instances.launch(body)
    except (ApiError, ValidationError) as error:
        shown = shown_back(form, asked)
        return await _launch_page(current, template_id, shown, sent=True, problem=Problem.of(error, _field_of))
    return current.redirect(f"{CONSOLE_PREFIX}/instances/{instance.id}")
