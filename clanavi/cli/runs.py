"""`clanavi runs`: run an operational script over SSH on one instance (following its output as it comes) or on
several a few at a time, list and show runs, read or follow a run's output, and show the project's SSH key."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from clanavi.cli.exits import Exit, Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.options import DEFAULT_TIMEOUT, Timeout, pairs
from clanavi.cli.records import add_one, states_of
from clanavi.client import Client
from clanavi.client._runs import ENDED
from clanavi.client.models import BulkRunIn, RunIn, RunOut

__all__ = ["group"]

STATES = states_of(RunOut)
group = typer.Typer(help="Script runs: operational scripts run over SSH on running instances, and their output.")

add_list(
    group,
    of=lambda client: client.runs.list,
    model=RunOut,
    help="The project's runs, newest first.",
    filters=(
        Filter("instance_id", "--instance", "Only the runs on this instance."),
        Filter("batch_id", "--batch", "Only the runs asked for together in this batch."),
        Filter("state", "--state", "Only those in this state (repeat for several).", choices=STATES, many=True),
    ),
)
add_one(group, "show", lambda client, run_id: client.runs.get(run_id), "One run, by its id: every field.", "ID")


def _ended(cli: Invocation, run: RunOut) -> int:
    """The exit status of a run that has ended, saying in one line on stderr why when it did not succeed."""
    if run.state == "succeeded":
        return Exit.DONE
    why = run.reason or run.problem or run.state
    raise Refused(f"run {run.id} {run.state.replace('_', ' ')}: {why}", Exit.API_ERROR)


def _follow(cli: Invocation, client: Client, run_id: str, timeout: float | None) -> None:
    """Print the run's output as it comes until it has ended (a note on stderr where output was lost)."""
    expected = 0
    for piece in client.runs.follow(run_id, timeout=timeout):
        if piece.offset > expected:
            cli.display.note(f"[{piece.offset - expected} bytes of output no longer kept]")
        cli.display.stdout.write(piece.text)
        cli.display.stdout.flush()
        expected = piece.next_offset


def _inputs(cli: Invocation, given: list[str] | None, secrets: list[str] | None) -> dict[str, Any]:
    values = pairs(given, "--input", typed=True)
    for name in secrets or ():
        values[name] = cli.secret(f"Value of {name}", from_stdin=not cli.runtime.stdin.isatty())
    return values


Script = Annotated[str, typer.Option("--script", metavar="SCRIPT_ID", help="The operational script to run.")]
Version = Annotated[
    int | None, typer.Option("--version", min=1, help="Its version (default: the latest).", show_default=False)
]
Inputs = Annotated[
    list[str] | None,
    typer.Option("--input", metavar="NAME=VALUE", help="An input's value (JSON where it reads so; repeat for more)."),
]
SecretInputs = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-input",
        metavar="NAME",
        help="An input whose value is typed without echo, or read from a line of stdin (kept off the command line).",
    ),
]


@command(group, "start")
def start(
    cli: Invocation,
    script: Script,
    instance_id: Annotated[
        str | None, typer.Argument(metavar="[INSTANCE_ID]", help="The instance to run it on.", show_default=False)
    ] = None,
    version: Version = None,
    inputs: Inputs = None,
    secret_inputs: SecretInputs = None,
    instances: Annotated[
        list[str] | None,
        typer.Option("--instance", metavar="ID", help="Run it on this instance too (repeat for more)."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="KEY=VALUE",
            help="Run it on the running instances matching: cloud_id, template_id or name (repeat to narrow).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=100, help="Runs on several instances under way at once.")
    ] = 10,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="One instance: print its output as it comes; several: wait for them all."),
    ] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> int:
    """Run an operational script over SSH. With --follow, the exit status says how it ended: 0 succeeded, 1 failed
    or timed out (one line on stderr says why), 3 when --timeout ran out first (it may still end)."""
    values = _inputs(cli, inputs, secret_inputs)
    several = [*([instance_id] if instance_id else []), *(instances or [])]
    if filters is None and not several:
        raise Refused("give an INSTANCE_ID, --instance or --filter")
    with cli.client() as client:
        if filters is None and len(several) == 1:
            asked = {"script_id": script, "inputs": values, **({"script_version": version} if version else {})}
            run = client.runs.start(several[0], RunIn.model_validate(asked))
            if not follow:
                cli.display.record(run)
                return Exit.DONE
            cli.display.note(f"run {run.id} queued on {run.instance_id}")
            with contextlib.suppress(KeyboardInterrupt):
                _follow(cli, client, run.id, timeout)
                return _ended(cli, client.runs.get(run.id))
            cli.display.note(f"stopped following: run {run.id} goes on (clanavi runs output --follow {run.id})")
            return Exit.INTERRUPTED
        many: dict[str, Any] = {
            "script_id": script,
            "inputs": values,
            "instance_ids": several,
            "concurrency": concurrency,
            **({"script_version": version} if version else {}),
        }
        if filters is not None:
            many["filter"] = pairs(filters, "--filter")
        batch = client.runs.start_many(BulkRunIn.model_validate(many))
        runs = batch.items
        if follow and runs:
            with cli.watch("run", ENDED, len(runs)) as watch:
                watch.seen(runs)
                runs = client.runs.wait_for_all([r.id for r in runs], timeout=timeout, progress=watch)
        cli.display.records(runs, RunOut)
        if not runs:
            cli.display.note("no running instance matched")
        failed = [r for r in runs if r.state in ENDED and r.state != "succeeded"]
        if failed:
            raise Refused(f"{len(failed)} of {len(runs)} runs did not succeed (batch {batch.batch_id})", Exit.API_ERROR)
        return Exit.DONE


@command(group, "output", prints=False)
def output(
    cli: Invocation,
    run_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Then print what follows until it ends.")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> int:
    """A run's output (standard output and error together, secrets masked); with --follow, until the run ends, and
    the exit status says how it ended, as `runs start --follow`'s does."""
    with cli.client() as client:
        if not follow:
            piece = client.runs.output(run_id)
            if piece.offset > 0:
                cli.display.note(f"[the first {piece.offset} bytes of output are no longer kept]")
            cli.display.stdout.write(piece.text)
            return Exit.DONE
        _follow(cli, client, run_id, timeout)
        return _ended(cli, client.runs.get(run_id))


@command(group, "key", prints=False)
def key(cli: Invocation) -> None:
    """The project's SSH public key, which runs log in with: template launches authorize it by themselves; import it
    as a key pair for instances launched without a template."""
    with cli.client() as client:
        cli.display.text(client.runs.key().public_key)
