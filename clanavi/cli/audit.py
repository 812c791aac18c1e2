"""`clanavi audit`: the activity trail, listed and filtered (the correlation id of a request among the filters), its
last events and those recorded next (`tail --follow`), and the check of its hash chain."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel

from clanavi.cli.exits import Exit, Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.client.models import AuditDigest, AuditEvent
from kernel.audit_trail import ExportReport, verify_export

__all__ = ["group"]

group = typer.Typer(help="The audit trail: every event of the project, in the order they happened.")

SCOPES = ("project", "platform")
Types = Annotated[list[str] | None, typer.Option("--type", help="Only events of this type (repeat for several).")]
Resource = Annotated[str | None, typer.Option("--resource", help="Only events about this resource (its id).")]
Correlation = Annotated[
    str | None, typer.Option("--correlation-id", help="Only the events of this request (its X-Correlation-ID).")
]
Scope = Annotated[
    Literal["project", "platform"] | None,
    typer.Option("--scope", help="platform: the events about the platform itself (admins).", show_default=False),
]

add_list(
    group,
    of=lambda client: client.audit.list,
    model=AuditEvent,
    help="The trail, filtered: by type, resource, request (correlation id) and time.",
    filters=(
        Filter("types", "--type", "Only events of this type (repeat for several).", many=True),
        Filter("resource_id", "--resource", "Only events about this resource (its id)."),
        Filter("correlation_id", "--correlation-id", "Only the events of this request (its X-Correlation-ID)."),
        Filter("since", "--since", "From this time (ISO 8601, or 10m, 2h ago).", kind=datetime),
        Filter("until", "--until", "Before this time (ISO 8601, or 10m, 2h ago).", kind=datetime),
        Filter("scope", "--scope", "platform: the events about the platform itself (admins).", choices=SCOPES),
        Filter(
            "calls",
            "--calls",
            "The API calls: exclude (the default), include (beside the events), only.",
            choices=("exclude", "include", "only"),
        ),
        Filter("actor", "--actor", "Only API calls by this principal (user:<id>, key:<id>)."),
        Filter("method", "--method", "Only API calls with this HTTP method."),
        Filter("status", "--status", "Only API calls answered with this status.", kind=int),
        Filter("path", "--path", "Only API calls whose path starts with this."),
    ),
)

add_list(
    group,
    of=lambda client: client.audit.calls,
    model=AuditEvent,
    name="calls",
    help="The project's API calls (who, what, from where, the status), filtered.",
    filters=(
        Filter("actor", "--actor", "Only calls by this principal (user:<id>, key:<id>)."),
        Filter("method", "--method", "Only calls with this HTTP method."),
        Filter("status", "--status", "Only calls answered with this status.", kind=int),
        Filter("path", "--path", "Only calls whose path starts with this."),
        Filter("resource_id", "--resource", "Only calls about this resource (its id)."),
        Filter("correlation_id", "--correlation-id", "Only this request (its X-Correlation-ID)."),
        Filter("since", "--since", "From this time (ISO 8601, or 10m, 2h ago).", kind=datetime),
        Filter("until", "--until", "Before this time (ISO 8601, or 10m, 2h ago).", kind=datetime),
    ),
)

add_list(
    group,
    of=lambda client: client.audit.digests,
    model=AuditDigest,
    name="digests",
    help="The signed digests over the hash chain, newest first (platform admins).",
)


@command(group, "tail")
def tail(
    cli: Invocation,
    count: Annotated[int, typer.Option("--lines", "-n", min=0, max=500, help="How many of the last events.")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then show events as they are recorded (Ctrl-C ends).")
    ] = False,
    types: Types = None,
    resource: Resource = None,
    correlation_id: Correlation = None,
    scope: Scope = None,
) -> None:
    """The last events, oldest first; with --follow, one line each (JSON Lines with -o json) as they come."""
    filters: dict[str, Any] = {
        "types": types or None,
        "resource_id": resource,
        "correlation_id": correlation_id,
        "scope": scope,
    }
    with cli.client() as client:
        if not follow:
            if count == 0:
                raise Refused("--lines 0 shows nothing: give --follow, or a count")
            cli.display.records(client.audit.tail(count, **filters), AuditEvent)
            return
        # Ctrl-C is how a follow ends: it ends it quietly.
        with contextlib.suppress(KeyboardInterrupt):
            for event in client.audit.follow(backlog=count, **filters):
                cli.display.item(event)


@command(group, "verify")
def verify(
    cli: Invocation,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify this export offline (no server).", dir_okay=False),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The PEM public key the digests must be signed with (from `clanavi audit public-key`); without it, "
            "the key the export names, which shows the export is whole but not who made it.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check the trail's hash chain on the server (platform admins), or an export offline with --file; exit status 1
    when anything is wrong, each finding named."""
    if file is None:
        if public_key is not None:
            raise Refused("--public-key goes with --file")
        with cli.client() as client:
            chain = client.audit.verify()
        cli.display.record(chain)
        if not chain.valid:
            raise Refused(f"the audit chain is broken at record {chain.first_invalid_seq}", Exit.API_ERROR)
        return
    try:
        key = public_key.read_text() if public_key is not None else None
        with file.open(encoding="utf-8") as lines:
            report = verify_export(lines, key)
    except OSError as exc:
        raise Refused(f"cannot read {exc.filename}: {exc.strerror}") from exc
    cli.display.record(ExportVerification.of(report))
    if not report.valid:
        raise Refused(f"the export does not verify: {len(report.findings)} findings", Exit.API_ERROR)


@command(group, "export", prints=False)
def export(
    cli: Invocation,
    file: Annotated[Path, typer.Option("--file", help="Write the export here (JSON lines).", dir_okay=False)],
) -> None:
    """Export the whole trail with its hashes and digests (platform admins), for `clanavi audit verify --file`."""
    with cli.client() as client:
        content = client.audit.export()
    try:
        file.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise Refused(f"cannot write {exc.filename}: {exc.strerror}") from exc
    records = sum(1 for line in content.splitlines() if '"kind": "record"' in line)
    cli.display.note(f"{records} records written to {file}")


@command(group, "public-key", prints=False)
def public_key_command(cli: Invocation) -> None:
    """The public key (PEM) the audit's digests are signed with: keep it to verify exports with --public-key."""
    with cli.client() as client:
        key = client.audit.public_key()
    cli.display.text(key.public_key)


class ExportVerification(BaseModel):
    """What `clanavi audit verify --file` found."""

    valid: bool
    records: int
    digests: int
    first_seq: int | None
    last_seq: int | None
    covered_to_seq: int | None
    retention_anchored: bool
    key: str
    findings: list[str]

    @classmethod
    def of(cls, report: ExportReport) -> ExportVerification:
        return cls(
            valid=report.valid,
            records=report.records,
            digests=report.digests,
            first_seq=report.first_seq,
            last_seq=report.last_seq,
            covered_to_seq=report.covered_to_seq,
            retention_anchored=report.anchored,
            key=report.key_source,
            findings=[f"{finding.kind}: {finding.message}" for finding in report.findings],
        )
