"""SimCloud declares every feature of the contract, and implements each operation a declared feature promises."""

from __future__ import annotations

import inspect

from adapters.base import FEATURE_OPERATIONS, AdapterBase, CloudAdapter, Feature
from adapters.simcloud import SimCloudAdapter


def test_every_feature_is_declared() -> None:
    assert SimCloudAdapter.features == frozenset(Feature)


def test_each_operation_of_a_declared_feature_is_overridden() -> None:
    inherited = [
        (feature.value, name)
        for feature in SimCloudAdapter.features
        for name in FEATURE_OPERATIONS[feature]
        if getattr(SimCloudAdapter, name) is getattr(AdapterBase, name)
    ]

    assert inherited == []


def test_no_operation_of_the_contract_is_left_to_refuse() -> None:
    operations = {
        name
        # Instance methods only: connecting (`open`, `connect`) is the class's.
        for name, member in vars(AdapterBase).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_") and name != "close"
    }
    promised = {name for names in FEATURE_OPERATIONS.values() for name in names}

    assert operations == promised
    assert {name for name in operations if getattr(SimCloudAdapter, name) is getattr(AdapterBase, name)} == set()


def test_the_overrides_keep_the_contracts_signatures() -> None:
    for names in FEATURE_OPERATIONS.values():
        for name in names:
            ours = inspect.signature(getattr(SimCloudAdapter, name))
            theirs = inspect.signature(getattr(CloudAdapter, name))
            assert list(ours.parameters) == list(theirs.parameters), name
            assert [p.kind for p in ours.parameters.values()] == [p.kind for p in theirs.parameters.values()], name
