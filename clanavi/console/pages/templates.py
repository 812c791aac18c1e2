"""Server templates: one page of the list, a template's page with its versions (the default marked), the forms that
make a template and a new version (a cloud's image and flavor from its catalogue, key pair, security groups, zone,
the scripts it runs, inputs and values as YAML), and the actions on versions; the API's refusals (409 while live
instances came from a version) shown on the page.

A new version starts from the latest: what the form does not show (tags, requirements, alert specs, the image and
flavor of other clouds) is kept. Secret values are never shown, so they are not kept: the form says so."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from clanavi.client.models import TemplateVersionOut
from clanavi.console.pages.instances import catalogue
from clanavi.console.pages.versioned import Unreadable, Versioned, document, listed, serve, text_box, versions_of
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit
from services.provisioner.templates.domain import SCRIPT_LISTS
from services.provisioner.templates.inputs import MASK

__all__ = ["router"]

router = APIRouter()
_MACHINE = ("cloud_id", "image_id", "flavor_id")


def _field_of(parts: list[str]) -> str | None:
    """The form's field of a refusal: the image, flavor or cloud of `clouds.N`, else the body's own name."""
    if len(parts) >= 3 and parts[0] == "clouds" and parts[2] in _MACHINE:
        return parts[2]
    return parts[0] if parts else None


def _spec(form: Form, base: TemplateVersionOut | None) -> dict[str, Any]:
    """A template version as the form gives it, over `base` (the version it started from); raises Unreadable."""
    found: dict[str, Any] = {}
    if base is not None:
        found = base.model_dump(
            mode="json", exclude={"template_id", "version", "deprecated", "created_at", "values"}, exclude_none=True
        )
    machine = {key: form.get(key) for key in _MACHINE}
    others = [c for c in found.get("clouds", []) if c["cloud_id"] != machine["cloud_id"]]
    found["clouds"] = [machine, *others] if any(machine.values()) else others
    found["key_name"] = form.optional("key_name")
    found["security_group_ids"] = form.getlist("security_group_ids")
    found["zone"] = form.optional("zone")
    for name in SCRIPT_LISTS:
        found[name] = [{"script_id": each} for each in form.getlist(name)]
    try:
        found["inputs"] = document(form.get("inputs"), list)
    except Unreadable as error:
        raise Unreadable("inputs", str(error)) from None
    try:
        found["values"] = document(form.get("values"), dict)
    except Unreadable as error:
        raise Unreadable("values", str(error)) from None
    return {k: v for k, v in found.items() if v is not None}


async def _new_spec(api: Any, template_id: str | None, form: Form) -> dict[str, Any]:
    """A new template's version 1, or a new version over the template's latest."""
    if template_id is None:
        return _spec(form, None)
    latest = await api.version(template_id, (await api.get(template_id)).latest_version)
    return _spec(form, latest)


def _unreadable(error: Unreadable) -> Problem:
    field, why = error.args
    return Problem(f"The {field} are not valid.", fields={field: f"The {field} are {why}."})


def _as_form(version: TemplateVersionOut) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The form's fields showing `version`, and its choices of several (groups, scripts)."""
    first = version.clouds[0] if version.clouds else None
    inputs = [each.model_dump(exclude_none=True, exclude_defaults=True) for each in version.inputs]
    plain = {name: value for name, value in version.values.items() if value != MASK}
    values = {
        "cloud_id": first.cloud_id if first else "",
        "image_id": first.image_id if first else "",
        "flavor_id": first.flavor_id if first else "",
        "key_name": version.key_name or "",
        "zone": version.zone or "",
        "inputs": text_box(inputs),
        "values": text_box(plain),
    }
    chosen = {name: [ref.script_id for ref in getattr(version, name)] for name in SCRIPT_LISTS}
    chosen["security_group_ids"] = list(version.security_group_ids)
    return values, chosen


async def _form_context(
    current: Visit, values: dict[str, str], chosen: dict[str, list[str]], problem: Problem | None
) -> dict[str, Any]:
    """What the template form offers: the clouds, the chosen cloud's catalogue, the project's scripts."""
    clouds = [c async for c in current.api.clouds.list(limit=100)]
    cloud_id = values.get("cloud_id") or (clouds[0].id if clouds else "")
    values = {**values, "cloud_id": cloud_id}
    offered = await catalogue(current, cloud_id) if cloud_id else {}
    scripts = (await current.api.scripts.list(sort="name", order="asc", limit=200).page()).items
    return {
        "clouds": [(c.id, f"{c.name} ({c.driver})") for c in clouds if c.enabled],
        "values": values,
        "chosen": chosen.get("security_group_ids", []),
        "script_choices": chosen,
        "scripts": [(s.id, s.name) for s in scripts],
        "script_lists": [(name, f"{phase.capitalize()} scripts") for name, phase in SCRIPT_LISTS.items()],
        "problem": problem,
        **offered,
    }


def _chosen(form: Form) -> dict[str, list[str]]:
    return {name: form.getlist(name) for name in (*SCRIPT_LISTS, "security_group_ids")}


async def _list_page(
    current: Visit,
    *,
    name: str = "",
    sort: str = "name",
    order: str = "asc",
    limit: str = "50",
    cursor: str = "",
    problem: Problem | None = None,
    form: Form | None = None,
) -> Response:
    found = await listed(current.api.templates, name, sort, order, limit, cursor)
    problem = problem or found.problem
    editing = await _form_context(
        current, form.values() if form else {}, _chosen(form) if form else {}, problem
    ) if await current.may_operate() else {"problem": problem}  # fmt: skip
    return await current.page(
        "templates.html",
        problem.status if problem else 200,
        title="Server templates",
        section="templates",
        **found.shown(),
        **editing,
    )


async def _template_page(
    current: Visit, template_id: str, /, *, problem: Problem | None = None, form: Form | None = None
) -> Response:
    template, versions, latest = await versions_of(current.api.templates, template_id)
    values, chosen = (form.values(), _chosen(form)) if form else _as_form(latest)
    editing = await _form_context(current, values, chosen, problem) if await current.may_operate() else {}
    return await current.page(
        "template.html",
        problem.status if problem else 200,
        title=f"Server template {template.name}",
        section="templates",
        tpl=template,
        versions=versions,
        latest=latest,
        secrets_dropped=any(value == MASK for value in latest.values.values()),
        **{"problem": problem, **editing},
    )


def _made_id(made: TemplateVersionOut) -> str:
    return made.template_id


serve(
    router,
    Versioned(
        path="templates",
        group=lambda current: current.api.templates,
        list_page=_list_page,
        record_page=_template_page,
        content=_new_spec,
        made_id=_made_id,
        unreadable=_unreadable,
        offered=frozenset({"deprecate", "undeprecate", "delete-version", "delete", "set-default"}),
        field_of=_field_of,
    ),
)
