"""Fixtures of the client's unit tests (`tests/client_kit.py` holds the rest of what they share): a test that asks
for `make` runs twice, once with each client, and closes every client it made."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.client_kit import AnyClient, MakeClient, Waits, client_of, close
from tests.network import Network


@pytest.fixture(params=["async", "sync"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def make(mode: str, waits: Waits) -> AsyncIterator[MakeClient]:
    made: list[AnyClient] = []

    def build(network: Network, **options: object) -> AnyClient:
        client = client_of(mode, network, waits, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        await close(client)
