"""List commands: each generated from its filters (`Filter`), and each walking the API's cursor on demand.

`--limit N` (default 50) asks for pages of N (at most 500) and stops after N items, saying on stderr how to go on
(`--cursor`, the next page's cursor, or `--all`); `--all` walks every page; `--cursor` starts where a list stopped."""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

import typer
from pydantic import BaseModel

from clanavi.cli.invocation import Invocation, command
from clanavi.client import Client, Pages

__all__ = ["DEFAULT_LIMIT", "PAGE_MOST", "Filter", "choices", "Taken", "add_list", "moment", "paging_note", "take"]

B = TypeVar("B", bound=BaseModel)

DEFAULT_LIMIT = 50
# The most items the API puts in one page.
PAGE_MOST = 500


@dataclass(frozen=True)
class Taken(Generic[B]):
    """The items a list showed; `more`: the list goes on; `cursor`: where its next page starts, when the items
    end where a page ended."""

    items: list[B]
    more: bool = False
    cursor: str | None = None


def take(pages_of: Callable[[int], Pages[B]], *, limit: int, every: bool, cursor: str | None = None) -> Taken[B]:
    """Walk the listing `pages_of(page size)` from `cursor`, a page at a time, until `limit` items (or, `every`,
    the last page)."""
    pages = pages_of(PAGE_MOST if every else min(limit, PAGE_MOST))
    items: list[B] = []
    while True:
        page = pages.page(cursor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return Taken(items)
        if not every and len(items) >= limit:
            exact = len(items) == limit
            return Taken(items[:limit], more=True, cursor=cursor if exact else None)


def paging_note(taken: Taken[Any]) -> str | None:
    if not taken.more:
        return None
    how = f"--cursor {taken.cursor} for the next page, or " if taken.cursor else ""
    return f"{len(taken.items)} shown and more to come: {how}--all for every one"


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(text: str) -> datetime:
    """A time given as ISO 8601 (`2026-12-01T12:00:00+00:00`; without an offset, UTC) or as a while ago (`90s`,
    `10m`, `2h`, `7d`)."""
    ago = _AGO.match(text.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago.group(2)]: float(ago.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter("give a time as ISO 8601 (2026-12-01T12:00:00Z) or a while ago (10m, 2h)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def choices(name: str, values: Sequence[str]) -> type[enum.StrEnum]:
    """A type typer offers `values` of (a list of Literal values it does not take)."""
    return enum.StrEnum(name, {value: value for value in values})  # type: ignore[return-value]


@dataclass(frozen=True)
class Filter:
    """One filter of a list: the client's keyword, its option (`--state`), and what it takes: text, several of
    `choices` (`many`), yes or no (`kind=bool`: `--discovered/--no-discovered`), or a time. `argument`: given
    without an option, and required (the cloud whose syncs are listed)."""

    keyword: str
    flag: str
    help: str
    kind: type[Any] = str
    choices: Sequence[str] = ()
    many: bool = False
    argument: bool = False

    def parameter(self) -> inspect.Parameter:
        """The parameter typer reads the filter from."""
        metavar = (self.flag[2:] if self.flag else self.keyword).upper().replace("-", "_")
        if self.argument:
            argument = typer.Argument(metavar=metavar, help=self.help, show_default=False)
            return inspect.Parameter(self.keyword, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, argument])
        settings: dict[str, Any] = {"help": self.help, "show_default": False, "metavar": metavar}
        kind: Any = self.kind
        if self.choices:
            kind = choices(self.keyword, self.choices)
            settings["help"] = f"{self.help} One of: {', '.join(self.choices)}."
        elif self.kind is datetime:
            kind, settings["parser"], settings["metavar"] = Any, moment, "TIME"
        elif self.kind is bool:
            del settings["metavar"]
        flag = f"{self.flag}/--no-{self.flag[2:]}" if self.kind is bool else self.flag
        annotation = list[kind] if self.many else kind
        option = typer.Option(flag, **settings)
        return inspect.Parameter(
            self.keyword, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[annotation | None, option]
        )


Order = Literal["asc", "desc"]
_PAGING = (
    inspect.Parameter(
        "limit",
        inspect.Parameter.KEYWORD_ONLY,
        default=DEFAULT_LIMIT,
        annotation=Annotated[
            int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many (pages of that size).")
        ],
    ),
    inspect.Parameter(
        "every",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--all", help="Show every one, walking every page.")],
    ),
    inspect.Parameter(
        "cursor",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--cursor", metavar="CURSOR", help="Start at this page (the cursor a list said to go on with)."
            ),
        ],
    ),
)


def add_list(
    group: typer.Typer,
    *,
    of: Callable[[Client], Callable[..., Pages[Any]]],
    model: type[BaseModel],
    help: str,
    filters: Sequence[Filter] = (),
    sorts: Sequence[str] = (),
    ordered: bool = True,
    name: str = "list",
) -> None:
    """Declare a list command: `of` picks the client's listing, called with the filters given, `sort` (one of
    `sorts`) and `order` when the list has them, and the page size."""
    parameters = [each.parameter() for each in filters]
    if sorts:
        choice: Any = Literal[tuple(sorts)]
        option = typer.Option("--sort", help="Sort by this field (default created_at).", show_default=False)
        parameters.append(
            inspect.Parameter(
                "sort", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[choice | None, option]
            )
        )
    if ordered:
        option = typer.Option("--order", help="asc (the list's default) or desc.", show_default=False)
        parameters.append(
            inspect.Parameter(
                "order", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Order | None, option]
            )
        )

    def listing(cli: Invocation, *, limit: int, every: bool, cursor: str | None, **values: Any) -> None:
        asked = {key: value for key, value in values.items() if value is not None}
        with cli.client() as client:
            pages = of(client)
            taken = take(lambda size: pages(**asked, limit=size), limit=limit, every=every, cursor=cursor)
        cli.display.records(taken.items, model)
        note = paging_note(taken)
        if note:
            cli.display.note(note)

    listing.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("cli", inspect.Parameter.POSITIONAL_ONLY), *parameters, *_PAGING]
    )
    listing.__doc__ = help
    command(group, name)(listing)
