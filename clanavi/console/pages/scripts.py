"""Scripts: one page of the list, a script's page with its versions (body, phase, timeout, inputs), the forms that
make a script and a new version (its inputs declared as YAML), and the actions on versions; the API's refusals (409
while a template runs a version) shown on the page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from clanavi.client.models import ScriptVersionOut
from clanavi.console.pages.versioned import Unreadable, Versioned, document, listed, serve, text_box, versions_of
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
        phases=[(p, p) for p in PHASES],
        values=(form.values() if form else None) or {"phase": "boot", "timeout_seconds": "300", "body": "#!/bin/sh\n"},
        problem=problem,
        **found.shown(),
    )


def _as_form(version: ScriptVersionOut) -> dict[str, str]:
    inputs = [each.model_dump(exclude_none=True, exclude_defaults=True) for each in version.inputs]
    return {
        "body": version.body,
        "phase": version.phase,
        "timeout_seconds": str(version.timeout_seconds),
        "inputs": text_box(inputs),
    }


async def _script_page(
    current: Visit, script_id: str, /, *, problem: Problem | None = None, form: Form | None = None
) -> Response:
    script, versions, latest = await versions_of(current.api.scripts, script_id)
    return await current.page(
        "script.html",
        problem.status if problem else 200,
        title=f"Script {script.name}",
        section="scripts",
        script=script,
        versions=versions,
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
