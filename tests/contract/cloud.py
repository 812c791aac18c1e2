"""What the conformance suite needs to know about a cloud under test, beyond its adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import pytest

from adapters.base import CloudAdapter


@dataclass(frozen=True)
class ContractCloud:
    adapter: CloudAdapter
    # What to launch instances from in this cloud.
    image_id: str
    flavor_id: str
    # How long transitions may take here (moto: instant; SimCloud: its configured times; libvirt test driver: instant).
    settle_seconds: float = 10.0
    zone: str | None = None


# Each module in tests/contract/clouds/ defines `open_cloud`: it may use any fixture through `request`
# (for example `request.getfixturevalue("database_url")`) and must leave nothing behind when it exits.
OpenCloud = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[ContractCloud]]
CloudIterator = AsyncIterator[ContractCloud]
