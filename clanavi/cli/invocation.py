"""What every command is handed (`Invocation`: the display, the project, the client), and `command`, which declares a
command with the options all of them share: `-o/--output`, `-c/--column` and `-p/--project`.

A command is a function whose first parameter is the invocation; its other parameters are typer's. `command` adds the
shared options to the signature typer reads, and takes them out again before the function is called."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.output import Display, Format
from clanavi.cli.progress import Watch
from clanavi.cli.session import Runtime, connect, reaching
from clanavi.client import Client

__all__ = ["Invocation", "command", "runtime_of"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Invocation:
    runtime: Runtime
    display: Display
    project: str | None

    @contextmanager
    def client(self) -> Iterator[Client]:
        """The client of the API this command calls, in the project chosen; closed when the command is done."""
        client = connect(self.runtime, self.project)
        try:
            with reaching(client.base_url):
                yield client
        finally:
            client.close()

    def watch(self, what: str, targets: str | Collection[str], total: int) -> Watch:
        wanted = (targets,) if isinstance(targets, str) else tuple(targets)
        return Watch(self.display.stderr, what, wanted, total)

    def secret(self, prompt: str, *, from_stdin: bool, option: str = "--stdin", confirm: bool = False) -> str:
        """A password or key: the first line of stdin (when `option` was given), or typed at a prompt that does not
        echo it."""
        if from_stdin:
            value = self.runtime.stdin.readline().rstrip("\r\n")
        else:
            if not self.runtime.stdin.isatty():
                raise Refused(f"{prompt.lower()} is read from a terminal: give it on stdin with {option}")
            value = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        if not value:
            raise Refused(f"no {prompt.lower()} given")
        return value


def runtime_of(context: typer.Context) -> Runtime:
    runtime = context.find_root().obj
    return runtime if isinstance(runtime, Runtime) else Runtime(os.environ)


_OUTPUT = inspect.Parameter(
    "output",
    inspect.Parameter.KEYWORD_ONLY,
    default="table",
    annotation=Annotated[
        Format,
        typer.Option("--output", "-o", help="How to print: a table, JSON, YAML, or bare values.", show_default=True),
    ],
)
_COLUMNS = inspect.Parameter(
    "columns",
    inspect.Parameter.KEYWORD_ONLY,
    default=None,
    annotation=Annotated[
        list[str] | None,
        typer.Option(
            "--column", "-c", metavar="COLUMN", help="Show this field (repeat for more; default: the main ones)."
        ),
    ],
)
_PROJECT = inspect.Parameter(
    "project",
    inspect.Parameter.KEYWORD_ONLY,
    default=None,
    annotation=Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            metavar="PROJECT",
            help="The project to act in (default: CLANAVI_PROJECT, else the one chosen at login).",
        ),
    ],
)
_CONTEXT = inspect.Parameter("_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)


def command(group: typer.Typer, name: str, *, prints: bool = True, **settings: Any) -> Callable[[F], F]:
    """Declare `name` in `group`, with the shared options (`prints`: the command prints records, and takes
    `-o` and `-c`); `settings` are typer's (`help`, `epilog`...), and the help is the function's docstring."""

    def declare(function: F) -> F:
        own = list(inspect.signature(function, eval_str=True).parameters.values())[1:]
        shared: Sequence[inspect.Parameter] = (_OUTPUT, _COLUMNS, _PROJECT) if prints else (_PROJECT,)

        @functools.wraps(function)
        def run(**values: Any) -> Any:
            context: typer.Context = values.pop("_context")
            display = Display(values.pop("output", "table"), tuple(values.pop("columns", None) or ()))
            invocation = Invocation(runtime_of(context), display, values.pop("project"))
            return function(invocation, **values)

        run.__signature__ = inspect.Signature([*own, *shared, _CONTEXT])  # type: ignore[attr-defined]
        # typer reads the signature above; the function's own annotations (text, under postponed evaluation) would
        # only be evaluated again.
        run.__annotations__ = {}
        group.command(name, **settings)(run)
        return function

    return declare
