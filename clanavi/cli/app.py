"""The `clanavi` command: its groups, and `main`, which runs a command line and turns whatever ends it into an exit
status and one line on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from clanavi.cli import (
    alerts,
    audit,
    auth,
    billing,
    catalogue,
    clouds,
    clusters,
    failover,
    guardrails,
    identity,
    instances,
    launch_blocks,
    metrics,
    placements,
    prices,
    resources,
    runs,
    scaling,
    service,
    templates,
)
from clanavi.cli.exits import EXIT_CODES_HELP, Exit, failure, one_line
from clanavi.cli.session import Runtime

__all__ = ["app", "main"]

app = typer.Typer(
    name="clanavi",
    help="Clanavi's command line: the REST API's resources as commands, with tables, JSON or YAML, and --wait.\n\n"
    "Log in first (clanavi login); CLANAVI_URL, CLANAVI_TOKEN and CLANAVI_PROJECT override what login keeps.",
    epilog=EXIT_CODES_HELP,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(auth.group)
for name, group in (
    ("instances", instances.group),
    ("images", catalogue.images),
    ("flavors", catalogue.flavors),
    ("prices", prices.group),
    ("guardrails", guardrails.guardrails),
    ("approvals", guardrails.approvals),
    ("launch-blocks", launch_blocks.group),
    ("placements", placements.group),
    ("metrics", metrics.group),
    ("key-pairs", resources.key_pairs),
    ("security-groups", resources.security_groups),
    ("volumes", resources.volumes),
    ("snapshots", resources.snapshots),
    ("addresses", resources.addresses),
    ("scripts", templates.scripts),
    ("templates", templates.templates),
    ("clusters", clusters.group),
    ("scaling-groups", scaling.group),
    ("health-policies", failover.policies),
    ("health", failover.health),
    ("refreshes", failover.refreshes),
    ("costs", billing.costs),
    ("budgets", billing.budgets),
    ("invoices", billing.invoices),
    ("alert-rules", alerts.rules),
    ("alerts", alerts.alerts),
    ("channels", alerts.channels),
    ("silences", alerts.silences),
    ("clouds", clouds.clouds),
    ("modules", clouds.modules),
    ("projects", identity.projects),
    ("members", identity.members),
    ("api-keys", identity.api_keys),
    ("users", identity.users),
    ("runs", runs.group),
    ("audit", audit.group),
    ("service", service.group),
):
    app.add_typer(group, name=name)


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> None:
    """Run `argv` (default: the process's arguments) and exit with its status."""
    command = typer.main.get_command(app)
    runtime = runtime or Runtime(os.environ)
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    try:
        result = command.main(args=args, prog_name="clanavi", standalone_mode=False, obj=runtime)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except BrokenPipeError:
        # A reader that stopped early (`| head`): nothing more can be said to it.
        sys.stderr.close()
        sys.exit(Exit.API_ERROR)
    except (Exception, KeyboardInterrupt) as error:  # every error ends the command; which status says what it was
        ended = failure(error)
        if ended is None:
            if runtime.environ.get("CLANAVI_DEBUG"):
                raise
            ended = Exit.API_ERROR, f"unexpected error ({type(error).__name__}); CLANAVI_DEBUG=1 shows where"
        status, line = ended
        print(f"clanavi: {one_line(line)}", file=sys.stderr)
        sys.exit(status)
    sys.exit(result if isinstance(result, int) else Exit.DONE)
