"""`clanavi launch-blocks`: the budgets that block launches now, and why a launch is refused with budget_exceeded."""

from __future__ import annotations

import typer

from clanavi.cli.listing import Filter, add_list
from clanavi.client.models import LaunchBlockOut

__all__ = ["group"]

group = typer.Typer(
    help="Launch blocks: budgets over their amount that refuse new launches (raise the budget to lift one)."
)

add_list(
    group,
    of=lambda client: client.launch_blocks.list,
    model=LaunchBlockOut,
    help="The budgets that block launches now, newest first.",
    filters=(
        Filter("kind", "--kind", "Only blocks of this scope.", choices=("project", "tag", "cluster")),
        Filter("budget_id", "--budget", "Only this budget's block."),
    ),
    sorts=("blocked_at", "budget_name"),
)
