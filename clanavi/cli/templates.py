"""`clanavi scripts` and `clanavi templates`: each a name in the project with immutable numbered versions, and what
the API does with them (new versions, deprecation, the default version of a template, deletion, refused with 409
while something uses them); and the inputs a launch from a template asks for (`launch_values`, which `clanavi
instances launch --template` sends).

A script's body and a template's spec are read from files (`-`: stdin): a spec is the API's template version as
YAML or JSON. A secret input's value is best given as `--input NAME=@FILE` or typed at a prompt that does not echo
it: an option's value is seen by other users in the process list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from clanavi.cli.exits import Exit, Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.options import pairs, read_document, read_text
from clanavi.cli.output import DEFAULT_COLUMNS
from clanavi.cli.records import add_one
from clanavi.client import Client, LaunchInput, launch_inputs, script_refs, typed_input
from clanavi.client.models import (
    InputOut,
    ScriptCreate,
    ScriptOut,
    ScriptVersionIn,
    ScriptVersionOut,
    TemplateCreate,
    TemplateOut,
    TemplateVersionIn,
    TemplateVersionOut,
)
from services.provisioner.templates.domain import PHASES
from services.provisioner.templates.inputs import Value

__all__ = ["InputAsked", "launch_values", "scripts", "templates", "template_id_of"]

scripts = typer.Typer(help="Scripts run on servers (boot, operational, decommission), with immutable versions.")
templates = typer.Typer(help="Server templates: what to run on each cloud, its scripts and inputs; versioned.")

Id = Annotated[str, typer.Argument(metavar="ID", show_default=False)]
Number = Annotated[int, typer.Argument(metavar="VERSION", min=1, show_default=False)]
Undo = Annotated[bool, typer.Option("--undo", help="Take the deprecation back.")]
Body = Annotated[Path, typer.Option("--body", metavar="FILE", help="The script: #!... or #cloud-config (- for stdin).")]
Phase = Annotated[
    str | None,
    typer.Option("--phase", metavar="PHASE", help=f"When it runs: {', '.join(PHASES)} (default: boot)."),
]
Timeout = Annotated[
    int | None, typer.Option("--timeout-seconds", min=1, metavar="SECONDS", help="How long it may run (default 300).")
]
Inputs = Annotated[
    Path | None,
    typer.Option("--inputs", metavar="FILE", help="The inputs it declares: a YAML or JSON list (- for stdin)."),
]
Spec = Annotated[
    Path,
    typer.Option("--spec", metavar="FILE", help="The template version as YAML or JSON (- for stdin)."),
]
SORTS = ("created_at", "name")


class InputAsked(InputOut):
    """An input as a launch from a template sees it: the value it has unless the launch sets one (`preset`), and
    whether the launch must set it (`needed`)."""

    preset: str | int | float | bool | None
    needed: bool


DEFAULT_COLUMNS[InputAsked] = ("name", "type", "needed", "preset", "choices", "description")


@dataclass(frozen=True)
class _Versioned:
    """Scripts or templates, as the commands they share say them: the client's namespace (`call`), the answer
    models, and what each refusal of a deprecation or a deletion is about."""

    group: typer.Typer
    what: str
    call: str
    model: type[BaseModel]
    version_model: type[BaseModel]
    deprecated_means: str
    delete_refused: str
    delete_version_refused: str


def _declare(kind: _Versioned) -> None:
    """The commands scripts and templates share: the list, show, the versions, one version, deprecation, deletion."""
    group, what = kind.group, kind.what
    add_list(
        group,
        of=lambda client: getattr(client, kind.call).list,
        model=kind.model,
        help=f"The project's {what}s, by name or when made.",
        filters=(Filter("name", "--name", "Only this name."),),
        sorts=SORTS,
    )
    add_one(
        group,
        "show",
        lambda client, record_id: getattr(client, kind.call).get(record_id),
        f"One {what}: its latest version{' and its default' if what == 'template' else ''}.",
        "ID",
    )

    def versions(cli: Invocation, record_id: Id) -> None:
        with cli.client() as client:
            found = getattr(client, kind.call).versions(record_id)
        cli.display.records(found, kind.version_model)

    def version(cli: Invocation, record_id: Id, number: Number) -> None:
        with cli.client() as client:
            cli.display.record(getattr(client, kind.call).version(record_id, number))

    def deprecate(cli: Invocation, record_id: Id, number: Number, undo: Undo = False) -> None:
        with cli.client() as client:
            cli.display.record(getattr(client, kind.call).deprecate(record_id, number, deprecated=not undo))

    def delete(cli: Invocation, record_id: Id) -> None:
        with cli.client() as client:
            getattr(client, kind.call).delete(record_id)
        cli.display.note(f"{what} {record_id} deleted")

    def delete_version(cli: Invocation, record_id: Id, number: Number) -> None:
        with cli.client() as client:
            getattr(client, kind.call).delete_version(record_id, number)
        cli.display.note(f"{what} {record_id} version {number} deleted")

    versions.__doc__ = f"Every version of a {what}, oldest first."
    version.__doc__ = f"One version of a {what}: every field."
    deprecate.__doc__ = f"Deprecate a version of a {what}: {kind.deprecated_means} (--undo: take that back)."
    delete.__doc__ = f"Delete a {what} and its versions (refused {kind.delete_refused})."
    delete_version.__doc__ = f"Delete a version of a {what} (refused {kind.delete_version_refused})."
    # typer reads the help when a command is declared.
    for name, function, prints in (
        ("versions", versions, True),
        ("version", version, True),
        ("deprecate", deprecate, True),
        ("delete", delete, False),
        ("delete-version", delete_version, False),
    ):
        command(group, name, prints=prints)(function)


_declare(
    _Versioned(
        scripts, "script", "scripts", ScriptOut, ScriptVersionOut,
        "no new template version may name it",
        "while a template runs one of them",
        "while a template runs it, or when it is the latest",
    )
)  # fmt: skip
_declare(
    _Versioned(
        templates, "template", "templates", TemplateOut, TemplateVersionOut,
        "it can no longer be launched",
        "while live instances came from it",
        "while live instances came from it, or when it is the default or the latest",
    )
)  # fmt: skip


def _content(
    cli: Invocation, body: Path, phase: str | None, timeout: int | None, inputs: Path | None
) -> dict[str, Any]:
    found: dict[str, Any] = {"body": read_text(body, "--body", cli.runtime.stdin)}
    if phase is not None:
        found["phase"] = phase
    if timeout is not None:
        found["timeout_seconds"] = timeout
    if inputs is not None:
        found["inputs"] = read_document(inputs, "--inputs", cli.runtime.stdin, list)
    return found


@command(scripts, "create")
def create_script(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Its name, unique in the project.")],
    body: Body,
    phase: Phase = None,
    timeout: Timeout = None,
    inputs: Inputs = None,
) -> None:
    """Make a script (its version 1). `{{ name }}` in the body is replaced by input `name` at launch; every name
    used must be declared in --inputs."""
    asked = ScriptCreate.model_validate({"name": name, **_content(cli, body, phase, timeout, inputs)})
    with cli.client() as client:
        cli.display.record(client.scripts.create(asked))


@command(scripts, "add-version")
def add_script_version(
    cli: Invocation, script_id: Id, body: Body, phase: Phase = None, timeout: Timeout = None, inputs: Inputs = None
) -> None:
    """Make a new version of a script; the phase, timeout and inputs not given are the latest version's. Nothing
    changed: the latest version is shown, and no new one is made."""
    given = _content(cli, body, phase, timeout, inputs)
    with cli.client() as client:
        latest = client.scripts.version(script_id, client.scripts.get(script_id).latest_version)
        kept: dict[str, Any] = {"phase": latest.phase, "timeout_seconds": latest.timeout_seconds}
        kept["inputs"] = [each.model_dump(exclude_none=True) for each in latest.inputs]
        cli.display.record(client.scripts.new_version(script_id, ScriptVersionIn.model_validate({**kept, **given})))


def _spec(cli: Invocation, spec: Path) -> dict[str, Any]:
    found: dict[str, Any] = read_document(spec, "--spec", cli.runtime.stdin)
    return found


@command(templates, "create")
def create_template(
    cli: Invocation,
    spec: Spec,
    name: Annotated[
        str | None, typer.Option("--name", help="Its name, unique in the project (default: the spec's `name`).")
    ] = None,
) -> None:
    """Make a server template (its version 1, the default) from a spec: `clouds` (an image and a flavor per cloud
    account) or `requirements`, `key_name`, `security_group_ids`, `zone`, `tags`, `boot_scripts` (and operational
    and decommission ones: script ids, with a version or the latest), `inputs`, `values`, `alerts`."""
    given = _spec(cli, spec)
    if name is not None:
        given["name"] = name
    asked = TemplateCreate.model_validate(given)
    with cli.client() as client:
        cli.display.record(client.templates.create(asked))


@command(templates, "add-version")
def add_template_version(cli: Invocation, template_id: Id, spec: Spec) -> None:
    """Make a new version of a template from a spec (as `create` takes, without the name); the default version
    does not move (see set-default)."""
    asked = TemplateVersionIn.model_validate(_spec(cli, spec))
    with cli.client() as client:
        cli.display.record(client.templates.new_version(template_id, asked))


@command(templates, "set-default")
def set_default(cli: Invocation, template_id: Id, number: Number) -> None:
    """Make a version the default: the one a launch naming no version uses."""
    with cli.client() as client:
        cli.display.record(client.templates.set_default(template_id, number))


def template_id_of(client: Client, given: str) -> str:
    """A template's id, given its id or its name."""
    try:
        uuid.UUID(given)
    except ValueError:
        found = client.templates.list(name=given, limit=1).page().items
        if not found:
            raise Refused(f"no template named {given!r} in the project", Exit.API_ERROR) from None
        return found[0].id
    return given


def _asked(client: Client, template_id: str, version: int | None) -> list[LaunchInput]:
    number = version if version is not None else client.templates.get(template_id).default_version
    found = client.templates.version(template_id, number)
    refs = {(ref.script_id, ref.version) for ref in script_refs(found)}
    return launch_inputs(found, {ref: client.scripts.version(*ref) for ref in refs})


@command(templates, "inputs")
def inputs_of(
    cli: Invocation,
    template: Annotated[str, typer.Argument(metavar="TEMPLATE", help="Its id or name.", show_default=False)],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="This version (default: the template's default).")
    ] = None,
) -> None:
    """The inputs a launch from the template may set (`--input NAME=VALUE`): their types and constraints, the value
    each has unless the launch sets one, and those it must set."""
    with cli.client() as client:
        asked = _asked(client, template_id_of(client, template), version)
    cli.display.records(
        [InputAsked(**each.spec.model_dump(), preset=each.preset, needed=each.needed) for each in asked], InputAsked
    )


def _value(cli: Invocation, text: str) -> str:
    """`@FILE`: the file's text (its last line end dropped); else the text itself."""
    if not text.startswith("@"):
        return text
    return read_text(Path(text[1:]), "--input", cli.runtime.stdin).removesuffix("\n").removesuffix("\r")


def launch_values(
    cli: Invocation,
    client: Client,
    template_id: str,
    version: int | None,
    given: Sequence[str] | None,
    file: Path | None,
) -> dict[str, Value]:
    """The inputs a launch sends: from the file, then the options (which win), each read as its declared type; a
    needed secret nobody gave is asked for at the terminal, without echo."""
    values: dict[str, Any] = read_document(file, "--input-file", cli.runtime.stdin) if file is not None else {}
    texts = {name: _value(cli, text) for name, text in pairs(given, "--input").items()}
    declared = {each.spec.name: each for each in _asked(client, template_id, version)}
    for name, text in texts.items():
        spec = declared.get(name)
        values[name] = typed_input(spec.spec.type, text) if spec is not None else text
    for name, each in declared.items():
        if each.secret and each.needed and name not in values and cli.runtime.stdin.isatty():
            values[name] = cli.secret(f"Secret input {name}", from_stdin=False)
    return values
