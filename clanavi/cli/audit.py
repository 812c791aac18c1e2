"""`clanavi audit`: the activity trail, listed and filtered (the correlation id of a request among the filters), its
last events and those recorded next (`tail --follow`), and the check of its hash chain."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any, Literal

import typer

from clanavi.cli.exits import Exit, Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.client.models import AuditEvent

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
    ),
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
def verify(cli: Invocation) -> None:
    """Check the trail's hash chain (platform admins); exit status 1 when it is broken."""
    with cli.client() as client:
        chain = client.audit.verify()
    cli.display.record(chain)
    if not chain.valid:
        raise Refused(f"the audit chain is broken at record {chain.first_invalid_seq}", Exit.API_ERROR)
