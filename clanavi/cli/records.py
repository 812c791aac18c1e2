"""The kinds of records that share their commands, declared as a table (`Kind`): `list` with the kind's filters,
`show`, and the actions that take only ids (stop, detach, delete...), each with `--wait` for the state it leads to.
What a kind does besides (launch, create, attach) is written in its own module, on the group `group_of` answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, get_args

import typer
from pydantic import BaseModel

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.options import DEFAULT_TIMEOUT, Ids, Timeout, Wait
from clanavi.client import Client, WaitTimeout

__all__ = ["DISCOVERED", "Action", "Kind", "add_one", "cloud_filters", "finish", "group_of", "settle", "states_of"]


def states_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The states a record of `model` can be in, as its `state` field declares them."""
    return tuple(get_args(model.model_fields["state"].annotation))


DISCOVERED = Filter(
    "discovered", "--discovered", "Only those an inventory sync adopted (or, --no-discovered, not).", kind=bool
)


def cloud_filters(model: type[BaseModel], *more: Filter) -> tuple[Filter, ...]:
    """The filters of a kind of record kept in the clouds: by cloud account, state and name, then `more`."""
    return (
        Filter("cloud_id", "--cloud", "Only those of this cloud account."),
        Filter(
            "state", "--state", "Only those in this state (repeat for several).", choices=states_of(model), many=True
        ),
        Filter("name", "--name", "Only those of this name."),
        *more,
    )


@dataclass(frozen=True)
class Action:
    """An action on records given by id: the client's method `call` (default: `name`), the state it leads to
    (what `--wait` waits for)."""

    name: str
    target: str
    help: str
    call: str = ""


@dataclass(frozen=True)
class Kind:
    """A kind of record: its command group, its name in messages, the client's namespace of it (`of`), its answer
    model, the filters and sorts of its list, and its id-only actions."""

    group: str
    what: str
    of: Callable[[Client], Any]
    model: type[BaseModel]
    help: str
    filters: Sequence[Filter] = ()
    sorts: Sequence[str] = ("created_at", "updated_at", "name", "state")
    actions: Sequence[Action] = ()
    # The client's listing of the kind, and the command that shows it.
    listing: str = "list"
    list_command: str = "list"
    list_help: str = ""


def settle(
    cli: Invocation, kind: Kind, namespace: Any, records: Sequence[Any], target: str, timeout: float
) -> list[Any]:
    """Wait until every record is in `target`, showing the progress; answers them as last read. Instances are
    polled together (one bar for all); other records one after another, within the one `timeout`."""
    ids = [record.id for record in records]
    with cli.watch(kind.what, target, len(ids)) as watch:
        watch.seen(records)
        if hasattr(namespace, "wait_for_all"):
            found: list[Any] = namespace.wait_for_all(ids, target, timeout=timeout, progress=watch)
            return found
        clock = cli.runtime.clock
        deadline = clock() + timeout
        done: list[Any] = []
        try:
            for record_id in ids:
                left = max(0.0, deadline - clock())
                done.append(namespace.wait_for(record_id, target, timeout=left, progress=watch))
        except WaitTimeout as late:
            # Said of the whole wait: the time the command was given, and every record not there.
            raise WaitTimeout(kind.what, [*done, *late.records], late.targets, timeout) from None
        return done


def finish(
    cli: Invocation, kind: Kind, namespace: Any, records: Sequence[Any], target: str, *, wait: bool, timeout: float
) -> None:
    """Print what an action answered, or (`wait`) the records once they are in `target`."""
    shown = settle(cli, kind, namespace, records, target, timeout) if wait else list(records)
    if len(shown) == 1:
        cli.display.record(shown[0])
    else:
        cli.display.records(shown, kind.model)


def add_one(group: typer.Typer, name: str, call: Callable[[Client, str], Any], help: str, metavar: str) -> None:
    """Declare `name` in `group`: a command given one id (or name, `metavar`) that shows the record `call` answers
    for it."""

    def one(cli: Invocation, given: str) -> None:
        with cli.client() as client:
            cli.display.record(call(client, given))

    # Real objects, not text: the command's signature is read with its annotations evaluated, and the metavar is
    # this declaration's own.
    one.__annotations__ = {
        "cli": Invocation,
        "given": Annotated[str, typer.Argument(metavar=metavar, show_default=False)],
        "return": None,
    }
    one.__doc__ = help
    command(group, name)(one)


def _show(group: typer.Typer, kind: Kind) -> None:
    help = f"One {kind.what}, by its Clanavi id: every field."
    add_one(group, "show", lambda client, record_id: kind.of(client).get(record_id), help, "ID")


def _act(group: typer.Typer, kind: Kind, action: Action) -> None:
    def act(cli: Invocation, ids: Ids, wait: Wait = False, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
        with cli.client() as client:
            namespace = kind.of(client)
            call = getattr(namespace, action.call or action.name)
            records = [call(record_id) for record_id in ids]
            finish(cli, kind, namespace, records, action.target, wait=wait, timeout=timeout)

    act.__doc__ = f"{action.help} With --wait: until {action.target}."
    command(group, action.name)(act)


def group_of(kind: Kind) -> typer.Typer:
    """The kind's command group (named `kind.group` where it is added), with its list, show and actions."""
    group = typer.Typer(help=kind.help)
    add_list(
        group,
        of=lambda client: getattr(kind.of(client), kind.listing),
        model=kind.model,
        help=kind.list_help or f"The project's {kind.group.replace('-', ' ')}, filtered and sorted.",
        filters=kind.filters,
        sorts=kind.sorts,
        name=kind.list_command,
    )
    _show(group, kind)
    for action in kind.actions:
        _act(group, kind, action)
    return group
