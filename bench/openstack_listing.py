"""OpenStack listing benchmark: page through 5,000 servers with the OpenStack adapter against the Nova stand-in.

Keeps the adapter's pagination honest: one request per page, no per-server calls, and a list that comes back whole.
Beside it, in the same run, the same pages fetched with a bare HTTP client from the same stand-in (the floor: what
the stand-in and the network cost without any SDK), and the ratio between the two.

    python -m bench.openstack_listing [--servers 5000] [--page 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import warnings
from typing import Any

import httpx

from adapters.base import Instance
from adapters.openstack import OpenStackAdapter, OpenStackConfig
from adapters.openstack.adapter import SERVER_MICROVERSION
from bench._cli import machine
from tests.standins.openstack import OpenStackStandIn
from tests.standins.openstack.server import REGION


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def list_all(adapter: OpenStackAdapter, page: int) -> tuple[list[Instance], int]:
    """Every server, page by page; returns them and the number of pages."""
    items: list[Instance] = []
    cursor: str | None = None
    pages = 0
    while True:
        result = await adapter.list_instances(cursor=cursor, limit=page)
        pages += 1
        items.extend(result.items)
        cursor = result.next_cursor
        if cursor is None:
            return items, pages


async def raw_list_all(standin: OpenStackStandIn, token: str, compute_url: str, page: int) -> tuple[int, int]:
    """The same listing with plain HTTP requests following Nova's `next` links: the floor."""
    count = pages = 0
    url: str | None = f"{compute_url}/servers/detail?limit={page}"
    # At the microversion the adapter reads servers at, so both read the same bodies.
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {SERVER_MICROVERSION}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        while url:
            answer = (await client.get(url)).json()
            pages += 1
            count += len(answer["servers"])
            url = next((link["href"] for link in answer.get("servers_links", []) if link["rel"] == "next"), None)
    return count, pages


async def _token(standin: OpenStackStandIn) -> tuple[str, str]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": standin.username, "domain": {"name": "Default"}, "password": standin.password}
                },
            },
            "scope": {"project": {"name": standin.project_name, "domain": {"name": "Default"}}},
        }
    }
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{standin.auth_url}/auth/tokens", json=body)
        answer.raise_for_status()
    catalog = answer.json()["token"]["catalog"]
    compute = next(s for s in catalog if s["type"] == "compute")
    url = next(e["url"] for e in compute["endpoints"] if e["interface"] == "public")
    return answer.headers["X-Subject-Token"], url.rstrip("/")


async def bench(servers: int, page: int, rounds: int) -> dict[str, Any]:
    with OpenStackStandIn(transition_seconds=0) as standin:
        log(f"seeding {servers} servers")
        standin.add_servers(servers)
        config = OpenStackConfig.model_validate(
            {
                "auth_url": standin.auth_url,
                "username": standin.username,
                "password": standin.password,
                "project_name": standin.project_name,
                "region_name": REGION,
            }
        )
        adapter = await OpenStackAdapter.open("bench", config)
        token, compute_url = await _token(standin)
        ours: list[float] = []
        floor: list[float] = []
        pages = raw_pages = 0
        try:
            for n in range(rounds):
                log(f"round {n + 1}/{rounds}")
                started = time.perf_counter()
                items, pages = await list_all(adapter, page)
                ours.append(time.perf_counter() - started)
                assert len(items) == servers and len({i.id for i in items}) == servers, "listing lost or repeated"
                started = time.perf_counter()
                count, raw_pages = await raw_list_all(standin, token, compute_url, page)
                floor.append(time.perf_counter() - started)
                assert count == servers
        finally:
            await adapter.close()
    best, best_floor = min(ours), min(floor)
    return {
        "benchmark": "openstack-list-servers",
        "method": (
            f"{servers} servers in the OpenStack stand-in (Nova /servers/detail with limit/marker), listed whole "
            f"through OpenStackAdapter.list_instances with pages of {page} (openstacksdk session, requests in a "
            f"thread), and with bare httpx following Nova's next links; best and median of {rounds} rounds each"
        ),
        "servers": servers,
        "page_size": page,
        "adapter": {
            "pages": pages,
            "best_seconds": round(best, 3),
            "median_seconds": round(statistics.median(ours), 3),
            "pages_per_s": round(pages / best, 1),
            "servers_per_s": round(servers / best),
        },
        "bare_http_floor": {
            "pages": raw_pages,
            "best_seconds": round(best_floor, 3),
            "pages_per_s": round(raw_pages / best_floor, 1),
        },
        "ratio_adapter_over_floor_seconds": round(best / best_floor, 2),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.openstack_listing", description=__doc__)
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # openstacksdk warns about its own internals on every resource; nothing a caller can change.
    warnings.simplefilter("ignore", DeprecationWarning)
    print(json.dumps(asyncio.run(bench(args.servers, args.page, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
