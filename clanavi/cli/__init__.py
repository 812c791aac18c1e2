"""`clanavi`, the command line of Clanavi's REST API, built on `clanavi.client` (typer for the commands, rich for
tables and progress). `clanavi --help` lists the commands; `clanavi service ...` runs the platform's own services."""

from clanavi.cli.app import app, main

__all__ = ["app", "main"]
