"""The conformance suite runs every case against every adapter in CLOUDS; a case that needs a feature runs only
where the adapter declares it (the `requires` helper), never through hand-written skips."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import pytest

from adapters.base import Feature
from tests.contract.cloud import ContractCloud, OpenCloud

CLOUDS = ["simcloud", "ec2", "libvirt"]


def _available() -> list[str]:
    names = []
    for name in CLOUDS:
        try:
            importlib.import_module(f"tests.contract.clouds.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.contract.clouds.{name}":
                raise
            continue  # that cloud's harness is not written yet
        names.append(name)
    return names


@pytest.fixture(params=_available())
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    module = importlib.import_module(f"tests.contract.clouds.{request.param}")
    open_cloud: OpenCloud = module.open_cloud
    async with open_cloud(request) as contract_cloud:
        yield contract_cloud


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Drop (deselect) a case whose `requires` features the parametrised adapter does not declare."""
    del items  # selection happens in `requires`, at run time, from the adapter's own declaration


def requires(cloud: ContractCloud, *features: Feature) -> bool:
    """True when the adapter declares every feature; cases assert `UnsupportedOperation` otherwise."""
    return set(features) <= cloud.adapter.features
