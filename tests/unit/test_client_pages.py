"""Lists read through the client: pages asked for as they are iterated over, the filters on every page and the sort
only on the first (the cursor keeps it); one page on its own; the audit's end, and following it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from clanavi.client import AsyncPages
from tests.client_kit import MOMENT, MakeClient, Waits, done, every, first, instance
from tests.client_kit import audit_event as event
from tests.client_kit import events_page as page_of
from tests.network import Network, ok


def paged(items: list[Any], size: int) -> Callable[[httpx.Request], httpx.Response]:
    """A listing of `items` whose cursor is the fake's own (an offset)."""

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor", "0"))
        rest = start + size
        more = rest < len(items)
        return ok(
            {
                "items": [i.model_dump(mode="json") for i in items[start:rest]],
                "next_cursor": str(rest) if more else None,
            }
        )

    return answer


def params(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


async def test_a_list_asks_for_each_page_when_the_items_before_are_taken(make: MakeClient) -> None:
    instances = [instance(f"i-{n}") for n in range(5)]
    network = Network(*([paged(instances, 2)] * 3))
    listing = make(network).instances.list(
        state=["running", "stopped"], cloud_id="sim", sort="name", order="desc", limit=2
    )
    assert network.requests == []

    if isinstance(listing, AsyncPages):
        items = aiter(listing)
        taken = [await anext(items), await anext(items)]
        assert len(network.requests) == 1
        taken.append(await anext(items))
        assert len(network.requests) == 2
        taken += [item async for item in items]
    else:
        iterator = iter(listing)
        taken = [next(iterator), next(iterator)]
        assert len(network.requests) == 1
        taken.append(next(iterator))
        assert len(network.requests) == 2
        taken += list(iterator)
    assert [i.id for i in taken] == [f"i-{n}" for n in range(5)]

    filters = [("cloud_id", "sim"), ("state", "running"), ("state", "stopped"), ("limit", "2")]
    assert [params(r) for r in network.requests] == [
        [*filters, ("sort", "name"), ("order", "desc")],
        [*filters, ("cursor", "2")],
        [*filters, ("cursor", "4")],
    ]


async def test_one_page_and_the_pages_themselves(make: MakeClient) -> None:
    volumes = make(Network(paged([instance("i-1"), instance("i-2"), instance("i-3")], 2))).instances.list(limit=2)
    page = await done(volumes.page())
    assert [i.id for i in page.items] == ["i-1", "i-2"] and page.next_cursor == "2"

    network = Network(*([paged([instance(f"i-{n}") for n in range(3)], 2)] * 2))
    pages = make(network).instances.list(discovered=True).pages()
    walked = await first(pages, 5)
    assert [[i.id for i in p.items] for p in walked] == [["i-0", "i-1"], ["i-2"]]
    assert params(network.requests[1]) == [("discovered", "true"), ("cursor", "2")]


async def test_an_empty_list_is_one_call(make: MakeClient) -> None:
    network = Network(ok({"items": [], "next_cursor": None}))
    assert await every(make(network).volumes.list(instance_id="i-1")) == []
    assert params(network.requests[0]) == [("instance_id", "i-1")]


async def test_the_tail_is_the_last_events_oldest_first(make: MakeClient) -> None:
    network = Network(page_of(event(3, 3), event(2, 2), event(1, 1)))
    tail = await done(make(network).audit.tail(3, types=["instance.running", "instance.stopped"]))
    assert [e.seq for e in tail] == [1, 2, 3]
    assert params(network.requests[0]) == [
        ("type", "instance.running"),
        ("type", "instance.stopped"),
        ("limit", "3"),
        ("order", "desc"),
    ]


async def test_following_the_audit_shows_the_backlog_then_each_new_event_once(make: MakeClient, waits: Waits) -> None:
    network = Network(
        page_of(event(3, 3), event(2, 2)),  # the backlog, newest first
        page_of(event(2, 2), event(3, 3)),  # nothing new
        page_of(event(2, 2), event(3, 3), event(5, 5)),
        # recorded late: it happened before the newest shown, within the lookback
        page_of(event(3, 3), event(4, 4), event(5, 5), event(6, 6)),
    )
    followed = await first(make(network).audit.follow(resource_id="i-1", backlog=2, interval=2.0, lookback=10), 5)

    assert [e.seq for e in followed] == [2, 3, 5, 4, 6]
    assert waits.seconds == [2.0, 2.0]
    reads = [dict(params(r)) for r in network.requests]
    assert reads[0] == {"resource_id": "i-1", "limit": "2", "order": "desc"}
    # Each read starts `lookback` seconds before the newest event seen.
    assert [r["since"] for r in reads[1:]] == [(MOMENT + timedelta(seconds=s - 10)).isoformat() for s in (3, 3, 5)]


async def test_following_from_a_time_shows_nothing_before_it(make: MakeClient) -> None:
    network = Network(page_of(event(1, 1), event(2, 2), event(3, 3)))
    followed = await first(make(network).audit.follow(since=MOMENT + timedelta(seconds=2)), 2)
    assert [e.seq for e in followed] == [2, 3]
