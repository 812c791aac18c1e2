"""`clanavi service`: the commands that run Clanavi itself (what the container image runs), the same as
`python -m services`: serve a service, bring its schema up to date, rewrap the cloud credentials with the current
key, check the services' settings. Settings a command cannot use stop it with one line naming each variable at
fault, and exit status 2."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Annotated, Literal

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.listing import choices
from services.names import SERVICES

__all__ = ["group"]

group = typer.Typer(help="Run Clanavi's own services (the container image's command).")

Service = Literal[SERVICES]  # type: ignore[valid-type]
ServiceArgument = Annotated[Service, typer.Argument(metavar="SERVICE", show_default=False)]


def _entry() -> ModuleType:
    from services import __main__ as entry

    return entry


def _run(work: Callable[[], int | None]) -> None:
    # The services, their settings and their keys are imported only by the commands that run them: every other
    # command of the CLI starts without them.
    from kernel.settings import InvalidSettings

    try:
        status = work()
    except InvalidSettings as exc:
        raise Refused(str(exc)) from None
    if status:
        raise typer.Exit(status)


@group.command("serve")
def serve(service: ServiceArgument) -> None:
    """Run a service (its schema is migrated first)."""
    _run(lambda: _entry().serve(service))


@group.command("migrate")
def migrate(service: ServiceArgument) -> None:
    """Bring a service's database schema up to date, and stop."""
    _run(lambda: _entry().migrate(service))


@group.command("rotate-keys")
def rotate_keys(
    service: Annotated[Literal["provisioner"], typer.Argument(metavar="SERVICE", show_default=False)],
) -> None:
    """Rewrap the cloud credentials sealed with a key of CLANAVI_SECRET_KEY_PREVIOUS with CLANAVI_SECRET_KEY; exit
    status 1 when no key opens some."""
    _run(lambda: _entry().rotate_keys(service))


@group.command("check")
def check(
    names: Annotated[
        list[choices("Service", SERVICES)] | None,  # type: ignore[valid-type]
        typer.Argument(metavar="[SERVICE]...", help="Default: every one.", show_default=False),
    ] = None,
) -> None:
    """Check the services' settings without starting anything."""
    _run(lambda: _entry().check([str(name) for name in names or ()]))
