"""Scripts: one page of the list, a script's page with its versions (body, phase, timeout, inputs), the forms that
make a script and a new version (its inputs declared as YAML), and the actions on versions; the API's refusals (409
while a template runs a version) shown on the page."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter
from starlette.responses import Response

from clanavi.client.models import ScriptVersionOut
from clanavi.console.pages.versioned import LIMITS, SORTS, Unreadable, Versioned, document, listed, serve
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit
from services.provisioner.templates.domain import PHASES

__all__ = ["router"]

router = APIRouter()


def _content(form: Form) -> dict[str, Any]:
    """A script version as the form gives it; raises Unreadable for inputs that are not YAML."""
    timeout = form.get("timeout_seconds").strip()
    found: dict[str, Any] = {
        # Browsers send a text box's lines ended by CRLF, which a shell would take as part of each command.
        "body": form.get("body").replace("\r\n", "\n"),
        "phase": form.get("phase") or "boot",
        "inputs": document(form.get("inputs"), list),
    }
    if timeout:
        found["timeout_seconds"] = int(timeout) if timeout.isdigit() else timeout
    return found


async def _new_content(_api: Any, _script_id: str | None, form: Form) -> dict[str, Any]:
    return _content(form)


def _unreadable(error: Unreadable) -> Problem:
    return Problem("The inputs are not valid.", fields={"inputs": f"The inputs are {error}."})


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
    found = await listed(current.api.scripts, name, sort, order, limit, cursor)
    problem = problem or found.problem
    return await current.page(
        "scripts.html",
        problem.status if problem else 200,
        title="Scripts",
        section="scripts",
        rows=found.items,
        filters=found.filters,
        sorts=SORTS,
        limits=[(n, n) for n in LIMITS],
        phases=[(p, p) for p in PHASES],
        values=(form.values() if form else None) or {"phase": "boot", "timeout_seconds": "300", "body": "#!/bin/sh\n"},
        query=found.query,
        cursor=cursor,
        next_cursor=found.next_cursor,
        problem=problem,
    )


def _as_form(version: ScriptVersionOut) -> dict[str, str]:
    inputs = [each.model_dump(exclude_none=True, exclude_defaults=True) for each in version.inputs]
    shown = yaml.safe_dump(inputs, sort_keys=False, allow_unicode=True) if inputs else ""
    return {
        "body": version.body,
        "phase": version.phase,
        "timeout_seconds": str(version.timeout_seconds),
        "inputs": shown,
    }


async def _script_page(
    current: Visit, script_id: str, /, *, problem: Problem | None = None, form: Form | None = None
) -> Response:
    script = await current.api.scripts.get(script_id)
    versions = await current.api.scripts.versions(script_id)
    latest = next((v for v in versions if v.version == script.latest_version), versions[-1])
    return await current.page(
        "script.html",
        problem.status if problem else 200,
        title=f"Script {script.name}",
        section="scripts",
        script=script,
        versions=list(reversed(versions)),
        phases=[(p, p) for p in PHASES],
        values=(form.values() if form else None) or _as_form(latest),
        problem=problem,
    )


def _made_id(made: ScriptVersionOut) -> str:
    return made.script_id


serve(
    router,
    Versioned(
        path="scripts",
        group=lambda current: current.api.scripts,
        list_page=_list_page,
        record_page=_script_page,
        content=_new_content,
        made_id=_made_id,
        unreadable=_unreadable,
        offered=frozenset({"deprecate", "undeprecate", "delete-version", "delete"}),
    ),
)
