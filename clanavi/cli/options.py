"""Options several commands take, declared once, and the readers of what they give (`KEY=VALUE` pairs, files)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
import yaml

from clanavi.cli.exits import Refused

__all__ = [
    "DEFAULT_TIMEOUT",
    "Cloud",
    "Ids",
    "Timeout",
    "Wait",
    "pairs",
    "read_document",
    "read_json_file",
    "read_text",
]

DEFAULT_TIMEOUT = 300.0

Wait = Annotated[
    bool, typer.Option("--wait", "-w", help="Wait until it is done, showing its progress live (on stderr).")
]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0, metavar="SECONDS", help="How long --wait waits at most; then exit status 3."),
]
Cloud = Annotated[str, typer.Option("--cloud", metavar="CLOUD_ID", help="The cloud account's id.")]
Ids = Annotated[list[str], typer.Argument(metavar="ID...", help="Clanavi ids (one or more).", show_default=False)]


def pairs(given: Sequence[str] | None, option: str, *, typed: bool = False) -> dict[str, Any]:
    """`KEY=VALUE` options as a mapping. `typed`: a value that reads as JSON (`3`, `true`, `[1, 2]`) is that
    value, anything else is text."""
    found: dict[str, Any] = {}
    for each in given or ():
        key, equals, value = each.partition("=")
        if not equals or not key:
            raise Refused(f"{option} takes KEY=VALUE, not {each!r}")
        if typed:
            try:
                found[key] = json.loads(value)
            except ValueError:
                found[key] = value
        else:
            found[key] = value
    return found


def read_text(path: Path, option: str, stdin: TextIO) -> str:
    """A file's text (`-`: stdin)."""
    try:
        return stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise Refused(f"{option}: cannot read {path}: {why}") from None


def read_json_file(path: Path, option: str, stdin: TextIO) -> dict[str, Any]:
    """A JSON object from a file (`-`: stdin)."""
    text = read_text(path, option, stdin)
    try:
        value = json.loads(text)
    except ValueError:
        raise Refused(f"{option}: {path} is not JSON") from None
    if not isinstance(value, dict):
        raise Refused(f"{option}: {path} must hold a JSON object")
    return value


def read_document(path: Path, option: str, stdin: TextIO, kind: type[dict[str, Any]] | type[list[Any]] = dict) -> Any:
    """A YAML (or JSON, which YAML reads too) mapping, or (`kind=list`) list, from a file (`-`: stdin)."""
    text = read_text(path, option, stdin)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise Refused(f"{option}: {path} is neither JSON nor YAML") from None
    if not isinstance(value, kind):
        raise Refused(f"{option}: {path} must hold a {'mapping' if kind is dict else 'list'}")
    return value
