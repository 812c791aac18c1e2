"""XAPI's VM states and operations in progress as the contract's instance states, against xapi's own enums (the
datamodel kept in tests/standins/xapi/reference/datamodel.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.base import InstanceState
from adapters.xcp._mapping import OPERATION_STATES, POWER_STATES, instance_state, to_instance

S = InstanceState
DATAMODEL: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "standins" / "xapi" / "reference" / "datamodel.json").read_text()
)
POWER = DATAMODEL["enums"]["vm_power_state"]
OPERATIONS = DATAMODEL["enums"]["vm_operations"]


@pytest.mark.parametrize("power_state", POWER)
def test_every_power_state_xapi_has_maps_to_a_state(power_state: str) -> None:
    assert instance_state(power_state) is not S.UNKNOWN
    assert not instance_state(power_state).is_transitional


def test_the_table_is_exactly_xapis_power_states() -> None:
    assert set(POWER_STATES) == set(POWER) == {"Halted", "Paused", "Running", "Suspended"}
    assert instance_state("Crashed") is S.UNKNOWN  # a power state xapi had long ago


def test_operations_named_are_xapis_and_each_leads_to_a_transitional_state() -> None:
    assert set(OPERATION_STATES) <= set(OPERATIONS), set(OPERATION_STATES) - set(OPERATIONS)
    assert all(state.is_transitional for state in OPERATION_STATES.values())


@pytest.mark.parametrize(
    ("power_state", "operations", "expected"),
    [
        ("Halted", {"OpaqueRef:t": "start"}, S.STARTING),
        ("Halted", {"OpaqueRef:t": "start_on"}, S.STARTING),
        ("Halted", {"OpaqueRef:t": "provision"}, S.PENDING),
        ("Running", {"OpaqueRef:t": "clean_shutdown"}, S.STOPPING),
        ("Running", {"OpaqueRef:t": "hard_shutdown"}, S.STOPPING),
        ("Running", {"OpaqueRef:t": "suspend"}, S.STOPPING),
        ("Running", {"OpaqueRef:t": "pause"}, S.STOPPING),
        ("Running", {"OpaqueRef:t": "clean_reboot"}, S.REBOOTING),
        ("Paused", {"OpaqueRef:t": "hard_reboot"}, S.REBOOTING),
        ("Suspended", {"OpaqueRef:t": "resume"}, S.STARTING),
        ("Paused", {"OpaqueRef:t": "unpause"}, S.STARTING),
        ("Halted", {"OpaqueRef:t": "destroy"}, S.TERMINATING),
        # Operations that do not move the VM between power states leave it as it is.
        ("Running", {"OpaqueRef:t": "snapshot"}, S.RUNNING),
        ("Running", {"OpaqueRef:t": "pool_migrate"}, S.RUNNING),
        ("Halted", {"OpaqueRef:t": "clone"}, S.STOPPED),
        ("Halted", {"OpaqueRef:t": "export"}, S.STOPPED),
        ("Running", {"OpaqueRef:t": "changing_memory_live"}, S.RUNNING),
        ("Running", {"OpaqueRef:t": "an operation of a newer xapi"}, S.RUNNING),
        # Several at once: the one that goes furthest.
        ("Running", {"OpaqueRef:a": "snapshot", "OpaqueRef:b": "hard_shutdown"}, S.STOPPING),
        ("Halted", {"OpaqueRef:a": "start", "OpaqueRef:b": "destroy"}, S.TERMINATING),
        ("Running", {}, S.RUNNING),
    ],
)
def test_an_operation_in_progress_shows_where_it_leads(
    power_state: str, operations: dict[str, str], expected: InstanceState
) -> None:
    assert instance_state(power_state, operations) is expected


def test_a_record_as_xapi_sends_it_reads_with_its_operation_in_progress() -> None:
    fields = DATAMODEL["classes"]["VM"]
    # Only what the datamodel has: a record of real field names, with xapi's wire types for those read here.
    record: dict[str, Any] = dict.fromkeys(fields)
    record.update(
        uuid="8f2b4a6e-1d3c-4e5f-9a7b-0c1d2e3f4a5b",
        name_label="web-1",
        power_state="Running",
        current_operations={"OpaqueRef:task": "clean_shutdown"},
        allowed_operations=["hard_shutdown", "snapshot"],
        other_config={"clanavi_flavor": "xcp.small", "clanavi_image": "img", "clanavi_tags": '{"team": "a"}'},
        VCPUs_at_startup="2",
        memory_static_max=str(2 * 1024**3),
    )
    assert set(record) == set(fields)
    instance = to_instance(record)
    assert instance.state is S.STOPPING
    assert instance.extra["current_operations"] == ["clean_shutdown"]
    assert (instance.flavor_id, instance.image_id, instance.tags) == ("xcp.small", "img", {"team": "a"})
    assert instance.extra["vcpus"] == 2 and instance.extra["memory_bytes"] == 2 * 1024**3
