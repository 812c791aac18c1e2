"""`clanavi clouds` (the project's cloud accounts and their inventory syncs) and `clanavi modules` (the adapter
modules, platform admins).

Adding an account, or changing its settings or credentials, tests the connection first: the API refuses a failed
test (`cloud_connection_failed`, exit status 1) and stores nothing, so a cloud that is added has passed its test.
`clanavi clouds test` tests a stored account again, and ends with exit status 1 when it fails.
Credentials are best given in a file (`--credentials-file`, `-` for stdin): an option's value is seen by other
users in the process list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clanavi.cli.exits import Exit, Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.options import Timeout, Wait, pairs, read_json_file
from clanavi.cli.records import add_one
from clanavi.client.models import CloudCreate, CloudOut, CloudUpdate, ModuleOut, RegionOut, SyncRunOut, ZoneOut

__all__ = ["clouds", "modules"]

# A sync of a large account pages through every instance it has.
SYNC_TIMEOUT = 600.0

Id = Annotated[str, typer.Argument(metavar="CLOUD_ID", show_default=False)]
Config = Annotated[
    list[str] | None,
    typer.Option("--config", metavar="KEY=VALUE", help="A setting (a JSON value or text; repeat for more)."),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config-file", metavar="FILE", help="Settings as a JSON object (- for stdin).")
]
Credential = Annotated[
    list[str] | None,
    typer.Option("--credential", metavar="KEY=VALUE", help="A credential (visible to `ps`: prefer the file)."),
]
CredentialsFile = Annotated[
    Path | None,
    typer.Option("--credentials-file", metavar="FILE", help="Credentials as a JSON object (- for stdin)."),
]

clouds = typer.Typer(help="Cloud accounts of the project, and their inventory syncs.")
modules = typer.Typer(help="Adapter modules (platform admins).")

add_list(
    clouds,
    of=lambda client: client.clouds.list,
    model=CloudOut,
    help="The project's cloud accounts.",
    filters=(Filter("driver", "--driver", "Only those of this driver."), Filter("name", "--name", "Only this name.")),
    sorts=("created_at", "name"),
)
add_list(
    clouds,
    of=lambda client: client.clouds.syncs,
    model=SyncRunOut,
    help="The account's inventory sync runs, newest first.",
    filters=(Filter("cloud_id", "", "The cloud account's id.", argument=True),),
    name="syncs",
)


def _settings(cli: Invocation, given: list[str] | None, file: Path | None, option: str) -> dict[str, Any] | None:
    """Settings from a file and options (the options win), or None when neither is given."""
    if given is None and file is None:
        return None
    found = read_json_file(file, f"{option}-file", cli.runtime.stdin) if file is not None else {}
    return {**found, **pairs(given, option, typed=option == "--config")}


add_one(
    clouds,
    "show",
    lambda client, cloud_id: client.clouds.get(cloud_id),
    "One account: its settings, features, and the names of the credentials set (never their values).",
    "CLOUD_ID",
)


@command(clouds, "add")
def add(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="Its name, unique in the project.")],
    driver: Annotated[str, typer.Option("--driver", help="An adapter module: simcloud, ec2, openstack, libvirt, xcp.")],
    config: Config = None,
    config_file: ConfigFile = None,
    credential: Credential = None,
    credentials_file: CredentialsFile = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it disabled.")] = False,
) -> None:
    """Add a cloud account to the project: its connection is tested first, and a failed test stores nothing."""
    given: dict[str, Any] = {"name": name, "driver": driver, "enabled": not disabled}
    given["config"] = _settings(cli, config, config_file, "--config") or {}
    given["credentials"] = _settings(cli, credential, credentials_file, "--credential") or {}
    asked = CloudCreate.model_validate(given)
    with cli.client() as client:
        made = client.clouds.add(asked)
    cli.display.record(made)
    cli.display.note(f"cloud {made.id} added: its connection test passed")


@command(clouds, "update")
def update(
    cli: Invocation,
    cloud_id: Id,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    config: Config = None,
    config_file: ConfigFile = None,
    credential: Credential = None,
    credentials_file: CredentialsFile = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Enable or disable it.")] = None,
) -> None:
    """Change an account: --config (or --config-file) replaces all its settings, and the credentials given replace
    all of them; new settings or credentials are tested before they are kept."""
    change = {
        "name": name,
        "enabled": enabled,
        "config": _settings(cli, config, config_file, "--config"),
        "credentials": _settings(cli, credential, credentials_file, "--credential"),
    }
    asked = CloudUpdate.model_validate({key: value for key, value in change.items() if value is not None})
    with cli.client() as client:
        cli.display.record(client.clouds.update(cloud_id, asked))


@command(clouds, "remove", prints=False)
def remove(
    cli: Invocation,
    cloud_id: Id,
    force: Annotated[
        bool, typer.Option("--force", help="Even while Clanavi holds live resources there (it forgets them).")
    ] = False,
) -> None:
    """Remove an account from the project (the cloud itself is not touched)."""
    with cli.client() as client:
        client.clouds.remove(cloud_id, force=force)
    cli.display.note(f"cloud {cloud_id} removed")


@command(clouds, "test")
def connection_test(cli: Invocation, cloud_id: Id) -> None:
    """Test the account's connection again with what is stored (nothing changes); exit status 1 when it fails."""
    with cli.client() as client:
        outcome = client.clouds.test(cloud_id)
    cli.display.record(outcome)
    if not outcome.ok:
        raise Refused(f"the connection test of {cloud_id} failed: {outcome.code}: {outcome.detail}", Exit.API_ERROR)
    cli.display.note(f"cloud {cloud_id}: the connection test passed in {outcome.latency_ms} ms")


@command(clouds, "regions")
def regions(cli: Invocation, cloud_id: Id) -> None:
    """Where the cloud runs things."""
    with cli.client() as client:
        cli.display.records(client.clouds.regions(cloud_id), RegionOut)


@command(clouds, "zones")
def zones(cli: Invocation, cloud_id: Id) -> None:
    """The cloud's zones."""
    with cli.client() as client:
        cli.display.records(client.clouds.zones(cloud_id), ZoneOut)


@command(clouds, "sync")
def sync(cli: Invocation, cloud_id: Id, wait: Wait = False, timeout: Timeout = SYNC_TIMEOUT) -> None:
    """Reconcile Clanavi's records with the cloud now (or join the run under way); --wait until it succeeded."""
    with cli.client() as client:
        run = client.clouds.sync(cloud_id)
        if wait:
            with cli.watch("sync run", "succeeded", 1) as watch:
                watch.seen([run])
                run = client.clouds.wait_for_sync(cloud_id, run.id, timeout=timeout, progress=watch)
    cli.display.record(run)


@command(clouds, "sync-show")
def sync_show(
    cli: Invocation, cloud_id: Id, sync_id: Annotated[str, typer.Argument(metavar="SYNC_ID", show_default=False)]
) -> None:
    """One sync run: what it adopted, corrected and marked gone."""
    with cli.client() as client:
        cli.display.record(client.clouds.sync_run(cloud_id, sync_id))


@command(modules, "list")
def module_list(cli: Invocation) -> None:
    """Every adapter module: built in or a plugin, enabled, available (its SDK installed), the clouds using it."""
    with cli.client() as client:
        cli.display.records(client.modules.list(), ModuleOut)


add_one(modules, "show", lambda client, name: client.modules.get(name), "One module.", "MODULE")


add_one(
    modules,
    "enable",
    lambda client, name: client.modules.enable(name),
    "Enable a module: its clouds work again.",
    "MODULE",
)


add_one(
    modules,
    "disable",
    lambda client, name: client.modules.disable(name),
    "Disable a module at runtime: its clouds refuse anything that calls them until it is enabled.",
    "MODULE",
)
