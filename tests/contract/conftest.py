"""The conformance suite runs each case against every cloud whose adapter declares what the case needs.

Each harness module (`tests/contract/clouds/<name>.py`, or any module named in CLANAVI_CONTRACT_CLOUDS) exports
`open_cloud` and `ADAPTER_CLASS`, the class of the adapter `open_cloud` yields. Selection reads
`ADAPTER_CLASS.features` at collection time, without connecting: a (cloud, case) pair is generated only where the
adapter declares the features the case names, so nothing is skipped by hand or at run time. Markers:

- `needs(*features)`: the case runs on every cloud that declares all of them.
- `lacks(*features)`: the case runs on every cloud that declares none of them (it checks a refusal).
- `each_feature(declared=..., among=...)`: one case per (cloud, feature naming operations) whose feature is (or is
  not) declared; the case takes a `feature` argument.

A case asks for `cloud` (a connected `ContractCloud`), or for `adapter_class` when the class alone will do.

CLANAVI_CONTRACT_CLOUDS (optional) replaces the default list: comma-separated entries, each `name` (a module in
tests/contract/clouds/) or `name=dotted.module` (any importable harness, such as a deliberately broken adapter).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import cast

import pytest

from adapters.base import FEATURE_OPERATIONS, CloudAdapter, Feature
from tests.contract.cloud import ContractCloud, OpenCloud
from tests.contract.helpers import Cleanup

CLOUDS = ("simcloud", "ec2", "libvirt", "openstack", "xcp")
HARNESS_PACKAGE = "tests.contract.clouds"
ENV_CLOUDS = "CLANAVI_CONTRACT_CLOUDS"


@dataclass(frozen=True)
class Harness:
    name: str
    open_cloud: OpenCloud
    adapter_class: type[CloudAdapter]

    @property
    def features(self) -> frozenset[Feature]:
        return self.adapter_class.features


class _NoCloud:
    """Stands in for the cloud of a case that no harness qualifies for; such a case is deselected, not run."""

    def __repr__(self) -> str:
        return "<no cloud declares this>"


NO_CLOUD = _NoCloud()


def _load(name: str, module_name: str) -> Harness:
    module = importlib.import_module(module_name)
    adapter_class = getattr(module, "ADAPTER_CLASS", None)
    if not isinstance(adapter_class, type) or not isinstance(getattr(adapter_class, "features", None), frozenset):
        raise TypeError(
            f"{module_name} must export ADAPTER_CLASS, the class of the adapter its open_cloud yields, "
            "for example `ADAPTER_CLASS = simcloud.SimCloudAdapter`: the suite selects cases from its `features`"
        )
    open_cloud = getattr(module, "open_cloud", None)
    if not callable(open_cloud):
        raise TypeError(f"{module_name} must export open_cloud (see tests/contract/cloud.py)")
    return Harness(name, cast(OpenCloud, open_cloud), cast("type[CloudAdapter]", adapter_class))


@functools.cache
def harnesses() -> tuple[Harness, ...]:
    """The clouds under test: those named in CLANAVI_CONTRACT_CLOUDS, else every default one whose harness exists."""
    configured = [entry.strip() for entry in os.environ.get(ENV_CLOUDS, "").split(",") if entry.strip()]
    if configured:
        found = []
        for entry in configured:
            name, _, module_name = entry.partition("=")
            found.append(_load(name.strip(), module_name.strip() or f"{HARNESS_PACKAGE}.{name.strip()}"))
        return tuple(found)
    found = []
    for name in CLOUDS:
        module_name = f"{HARNESS_PACKAGE}.{name}"
        try:
            found.append(_load(name, module_name))
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that cloud's harness is not written yet
    return tuple(found)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*features): run on each cloud whose adapter declares all of them")
    config.addinivalue_line("markers", "lacks(*features): run on each cloud whose adapter declares none of them")
    config.addinivalue_line(
        "markers", "each_feature(declared, among=...): one case per (cloud, feature with operations) declared or not"
    )


def _marked_features(definition: pytest.Function, marker: str) -> frozenset[Feature]:
    # Feature(...) turns a misspelt feature into an error at collection instead of a case that never runs.
    return frozenset(Feature(arg) for mark in definition.iter_markers(marker) for arg in mark.args)


def _each_feature(definition: pytest.Function, declared: frozenset[Feature]) -> list[Feature] | None:
    mark = definition.get_closest_marker("each_feature")
    if mark is None:
        return None
    wanted: bool = mark.kwargs["declared"]
    among: Iterable[Feature] = mark.kwargs.get("among", tuple(Feature))
    return [Feature(f) for f in among if FEATURE_OPERATIONS[Feature(f)] and (Feature(f) in declared) == wanted]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Generate only the (cloud, case) and (cloud, case, feature) pairs whose features the adapter declares."""
    wants_cloud = "cloud" in metafunc.fixturenames
    if not wants_cloud and "adapter_class" not in metafunc.fixturenames:
        return
    definition = metafunc.definition
    needs = _marked_features(definition, "needs")
    lacks = _marked_features(definition, "lacks")
    each = definition.get_closest_marker("each_feature") is not None
    argnames = ["cloud" if wants_cloud else "adapter_class", *(["feature"] if each else [])]
    params = []
    for harness in harnesses():
        if not needs <= harness.features or lacks & harness.features:
            continue
        head: object = harness.name if wants_cloud else harness.adapter_class
        features = _each_feature(definition, harness.features)
        if features is None:
            params.append(pytest.param(head, id=harness.name))
        else:
            params.extend(pytest.param(head, f, id=f"{harness.name}-{f.value}") for f in features)
    if not params:
        params = [pytest.param(*([NO_CLOUD] * len(argnames)), id="no-cloud-declares-it")]
    metafunc.parametrize(argnames, params, indirect=["cloud"] if wants_cloud else False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the placeholder of a case that no cloud under test qualifies for (pytest would skip it)."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        placeholder = callspec is not None and any(value is NO_CLOUD for value in callspec.params.values())
        (drop if placeholder else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    harness = next(h for h in harnesses() if h.name == request.param)
    async with harness.open_cloud(request) as contract_cloud:
        adapter = contract_cloud.adapter
        if (
            not isinstance(adapter, CloudAdapter)
            or not isinstance(adapter, harness.adapter_class)
            or adapter.features != harness.features
        ):
            raise TypeError(
                f"the {harness.name} harness declares ADAPTER_CLASS {harness.adapter_class.__name__} but yields "
                f"{type(adapter).__name__} with other features: cases were selected from the wrong declaration"
            )
        yield contract_cloud


@pytest.fixture
async def cleanup(cloud: ContractCloud) -> AsyncIterator[Cleanup]:
    """Undoes what the case created, newest first, while the cloud is still open."""
    undo = Cleanup(cloud)
    yield undo
    await undo.run()
