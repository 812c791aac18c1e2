"""The XAPI stand-in's records and errors, read over the wire with a plain XML-RPC client, against xapi's own
datamodel and error declarations (tests/standins/xapi/reference: `datamodel.json` from xen-api's published
datamodel, `errors.json` from `ocaml/idl/datamodel_errors.ml` and the raising code; both say where they came from).

Every record of every class a test here makes must carry exactly the datamodel's fields, each with the type xapi
sends it as; every failure the stand-in answers must be a code xapi has, with as many parameters as xapi gives it.
"""

from __future__ import annotations

import json
import re
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.standins.xapi import TEMPLATES, XapiStandIn

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).parents[1] / "standins" / "xapi" / "reference"
DATAMODEL: dict[str, Any] = json.loads((REFERENCE / "datamodel.json").read_text())
ERRORS: dict[str, Any] = json.loads((REFERENCE / "errors.json").read_text())["errors"]
ENUMS: dict[str, list[str]] = DATAMODEL["enums"]
_MAP = re.compile(r"^\((.+?) -> (.+)\) map$")


def conforms(kind: str, value: object, *, key: bool = False) -> bool:
    """Whether `value` is what xapi sends for a field of type `kind` (as a struct's key when `key`)."""
    if kind.endswith(" set"):
        return isinstance(value, list) and all(conforms(kind.removesuffix(" set"), v) for v in value)
    found = _MAP.match(kind)
    if found is not None:
        k, v = found.groups()
        return isinstance(value, dict) and all(conforms(k, a, key=True) and conforms(v, b) for a, b in value.items())
    if kind.endswith(" ref"):
        return isinstance(value, str) and value.startswith("OpaqueRef:")
    if kind.startswith("enum "):
        return value in ENUMS[kind.removeprefix("enum ")]
    if kind == "int":  # int64: a decimal string, on the wire and as a struct's key
        return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    if kind == "float":
        return isinstance(value, float) if not key else isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, xmlrpc.client.DateTime)
    assert kind == "string", f"a type this check does not know: {kind}"
    return isinstance(value, str)


class Client:
    def __init__(self, server: XapiStandIn) -> None:
        self.proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
        self.session = self.raw("session.login_with_password", "root", "pw", "2.0", "t", session=False)["Value"]
        self.failures: list[list[str]] = []

    def raw(self, method: str, *args: object, session: bool = True) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(self.proxy, method)(*((self.session,) if session else ()), *args)
        if answer["Status"] == "Failure":
            self.failures.append(answer["ErrorDescription"])
        return answer

    def __call__(self, method: str, *args: object) -> Any:
        answer = self.raw(method, *args)
        assert answer["Status"] == "Success", (method, answer)
        return answer["Value"]

    def fails(self, method: str, *args: object) -> list[str]:
        answer = self.raw(method, *args)
        assert answer["Status"] == "Failure", (method, answer)
        description: list[str] = answer["ErrorDescription"]
        return description


@pytest.fixture
def server() -> Iterator[XapiStandIn]:
    with XapiStandIn("root", "pw") as standin:
        yield standin


def a_vm(x: Client, name: str, *, start: bool = True) -> str:
    template = x("VM.get_by_name_label", TEMPLATES[0])[0]
    vm: str = x("VM.clone", template, name)
    x("VM.provision", vm)
    x("VM.set_is_a_template", vm, False)
    network = x("network.get_all")[0]
    x(
        "VIF.create",
        {"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500", "other_config": {}}
        | {"qos_algorithm_type": "", "qos_algorithm_params": {}},
    )
    if start:
        x("VM.start", vm, False, False)
    return vm


def test_every_record_carries_the_datamodels_fields_with_their_types(server: XapiStandIn) -> None:
    x = Client(server)
    running = a_vm(x, "running")
    a_vm(x, "halted", start=False)
    suspended = a_vm(x, "suspended")
    x("VM.suspend", suspended)
    paused = a_vm(x, "paused")
    x("VM.pause", paused)
    x("VM.snapshot", running, "snap")
    sr = x("pool.get_default_SR", x("pool.get_all")[0])
    vdi = x("VDI.create", {"name_label": "data", "SR": sr, "virtual_size": str(2**30), "type": "user"})
    vbd = x("VBD.create", {"VM": running, "VDI": vdi, "userdevice": "autodetect", "mode": "RW", "type": "Disk"})
    x("VBD.plug", vbd)
    x("VDI.snapshot", vdi, {})

    checked = 0
    for cls, fields in DATAMODEL["classes"].items():
        records: dict[str, dict[str, Any]] = x(f"{cls}.get_all_records")
        assert records, f"no {cls} to check"
        for ref, record in records.items():
            assert ref.startswith("OpaqueRef:")
            assert set(record) == set(fields), (cls, set(record) ^ set(fields))
            for name, spec in fields.items():
                assert conforms(spec["type"], record[name]), (cls, name, spec["type"], record[name])
                checked += 1
            assert x(f"{cls}.get_record", ref) == record
    assert checked > 1000
    power = {r["power_state"] for r in x("VM.get_all_records").values()}
    assert power == set(ENUMS["vm_power_state"]) == {"Halted", "Paused", "Running", "Suspended"}
    # xapi left VCPUs_utilisation behind ("Disabled in favour of RRDs"): still in the record, as it creates it.
    assert DATAMODEL["classes"]["VM_metrics"]["VCPUs_utilisation"]["removed"] is True
    assert x("VM_metrics.get_VCPUs_utilisation", x("VM.get_metrics", running)) == {"0": 0.0}


def test_allowed_operations_follow_the_power_state_as_xapi_computes_them(server: XapiStandIn) -> None:
    x = Client(server)
    vm = a_vm(x, "ops", start=False)
    halted = set(x("VM.get_allowed_operations", vm))
    assert {"start", "clone", "copy", "destroy", "snapshot", "changing_VCPUs", "export"} <= halted
    assert not halted & {"clean_shutdown", "hard_shutdown", "suspend", "resume", "unpause", "provision"}
    x("VM.start", vm, False, False)
    running = set(x("VM.get_allowed_operations", vm))
    assert {"clean_shutdown", "hard_shutdown", "clean_reboot", "hard_reboot", "suspend", "pause", "snapshot"} <= running
    assert not running & {"start", "clone", "destroy", "changing_VCPUs", "resume"}
    x("VM.suspend", vm)
    assert set(x("VM.get_allowed_operations", vm)) >= {"resume", "hard_shutdown", "destroy"}
    template = x("VM.get_by_name_label", TEMPLATES[0])[0]
    # A default template: copied, provisioned, resized; never started, snapshotted or destroyed.
    assert set(x("VM.get_allowed_operations", template)) == {
        "provision",
        "clone",
        "copy",
        "export",
        "changing_VCPUs",
        "changing_memory_limits",
    }

    # An operation in progress (another client's task) shows in current_operations and blocks the others.
    x("VM.resume", vm, False, False)
    with server.state.lock:
        task = server.state.begin_operation(vm, "clean_shutdown")
    assert x("VM.get_current_operations", vm) == {task: "clean_shutdown"}
    assert x("VM.get_allowed_operations", vm) == []
    assert x.fails("VM.hard_shutdown", vm) == ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "clean_shutdown", task]
    with server.state.lock:
        server.state.end_operation(vm, task)
    x("VM.hard_shutdown", vm)


def test_failures_carry_xapis_codes_and_parameters(server: XapiStandIn) -> None:
    x = Client(server)
    x.raw("session.login_with_password", "root", "nope", "2.0", "t", session=False)
    x.raw("VM.get_all", "OpaqueRef:expired", session=False)
    missing = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert x.fails("VM.get_record", missing) == ["HANDLE_INVALID", "VM", missing]
    assert x.fails("VM.get_by_uuid", "nope") == ["UUID_INVALID", "VM", "nope"]
    template = x("VM.get_by_name_label", TEMPLATES[0])[0]
    assert x.fails("VM.start", template, False, False) == ["VM_IS_TEMPLATE", template, "start"]
    assert x.fails("VM.destroy", template) == ["VM_IS_TEMPLATE", template, "destroy"]  # a default template
    vm = a_vm(x, "errors")
    # Each operation's power states, as xapi lists them.
    assert x.fails("VM.start", vm, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert x.fails("VM.clone", vm, "c") == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert x.fails("VM.destroy", vm) == ["VM_BAD_POWER_STATE", vm, "halted, suspended", "running"]
    assert x.fails("VM.resume", vm, False, False) == ["VM_BAD_POWER_STATE", vm, "suspended", "running"]
    assert x.fails("VM.set_VCPUs_max", vm, "2") == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert x.fails("VM.provision", vm)[0] == "VM_BAD_POWER_STATE"
    snapshot = x("VM.snapshot", vm, "s")
    assert x.fails("VM.start", snapshot, False, False) == ["VM_IS_SNAPSHOT", snapshot, "start"]
    x("VM.hard_shutdown", vm)
    assert x.fails("VM.hard_shutdown", vm) == ["VM_BAD_POWER_STATE", vm, "paused, suspended, running", "halted"]
    assert x.fails("VM.provision", vm) == ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]
    x("VM.add_to_other_config", vm, "k", "v")
    uuid = x("VM.get_uuid", vm)
    assert x.fails("VM.add_to_other_config", vm, "k", "v") == ["MAP_DUPLICATE_KEY", "VM", "other_config", uuid, "k"]
    assert x.fails("VM.set_VCPUs_at_startup", vm, "64")[0] == "VALUE_NOT_SUPPORTED"
    x("VM.set_memory_limits", vm, str(2**40), str(2**40), str(2**40), str(2**40))
    assert x.fails("VM.start", vm, False, False)[0] == "HOST_NOT_ENOUGH_FREE_MEMORY"

    sr = x("pool.get_default_SR", x("pool.get_all")[0])
    assert x.fails("VDI.create", {"SR": sr, "virtual_size": "lots"}) == ["FIELD_TYPE_ERROR", "virtual_size"]
    vdi = x("VDI.create", {"name_label": "d", "SR": sr, "virtual_size": str(2**30)})
    assert x.fails("VDI.resize", vdi, "1")[0] == "VDI_TOO_SMALL"
    other = a_vm(x, "attached")
    vbd = x("VBD.create", {"VM": other, "VDI": vdi, "userdevice": "3", "mode": "RW", "type": "Disk"})
    assert x.fails("VBD.create", {"VM": other, "VDI": vdi, "userdevice": "3"}) == ["DEVICE_ALREADY_EXISTS", "3"]
    assert x.fails("VBD.unplug", vbd) == ["DEVICE_ALREADY_DETACHED", vbd]
    x("VBD.plug", vbd)
    assert x.fails("VBD.plug", vbd) == ["DEVICE_ALREADY_ATTACHED", vbd]
    assert x.fails("VDI.destroy", vdi) == ["VDI_IN_USE", vdi, "destroy"]
    assert x.fails("VBD.destroy", vbd)[0] == "OPERATION_NOT_ALLOWED"
    with server.state.lock:
        server.state.remove_pv_drivers(other)
    assert x.fails("VM.clean_shutdown", other) == ["VM_LACKS_FEATURE", other]
    x("VM.hard_shutdown", other)
    assert x.fails("VBD.unplug", vbd) == ["VM_BAD_POWER_STATE", other, "running", "halted"]
    assert x.fails("VM.no_such_call") == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_call"]
    assert x.fails("VM.start", vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "4", "2"]
    dom0 = next(r for r, rec in x("VM.get_all_records").items() if rec["is_control_domain"])
    assert x.fails("VM.snapshot", dom0, "s") == [
        "OPERATION_NOT_ALLOWED",
        "This operation is not allowed on a control domain",
    ]

    seen = {failure[0] for failure in x.failures}
    assert {"SESSION_AUTHENTICATION_FAILED", "SESSION_INVALID", "HANDLE_INVALID", "VM_LACKS_FEATURE"} <= seen
    for code, *params in x.failures:
        assert code in ERRORS, f"{code} is no error of xapi's (or not in the reference)"
        declared = ERRORS[code].get("raised", ERRORS[code]["params"])
        assert declared is not None and len(params) == len(declared), (code, params, declared)
