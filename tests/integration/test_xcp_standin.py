"""The XAPI stand-in's wire format, read with a plain XML-RPC client (no XenAPI): what real xapi answers."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator

import pytest

from tests.standins.xapi import TEMPLATES, XapiStandIn

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[XapiStandIn]:
    standin = XapiStandIn("root", "pw").start()
    try:
        yield standin
    finally:
        standin.stop()


def test_wire_format_and_error_codes(server: XapiStandIn) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
    call = getattr
    refused = call(proxy, "session.login_with_password")("root", "nope", "2.0", "t")
    assert refused == {
        "Status": "Failure",
        "ErrorDescription": ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"],
    }
    login = call(proxy, "session.login_with_password")("root", "pw", "2.0", "t")
    assert login["Status"] == "Success" and login["Value"].startswith("OpaqueRef:")
    session = login["Value"]

    assert call(proxy, "VM.get_all")("OpaqueRef:nobody")["ErrorDescription"][0] == "SESSION_INVALID"
    pool = call(proxy, "pool.get_all")(session)["Value"][0]
    host = call(proxy, "pool.get_master")(session, pool)["Value"]
    assert call(proxy, "host.get_API_version_major")(session, host)["Value"] == "2"  # int64 as a string
    metrics = call(proxy, "host.get_metrics")(session, host)["Value"]
    assert int(call(proxy, "host_metrics.get_memory_total")(session, metrics)["Value"]) > 0

    records = call(proxy, "VM.get_all_records")(session)["Value"]
    templates = {r["name_label"] for r in records.values() if r["is_a_template"]}
    assert set(TEMPLATES) <= templates
    assert any(r["is_control_domain"] for r in records.values())
    assert all(isinstance(r["VCPUs_max"], str) for r in records.values())

    template = call(proxy, "VM.get_by_name_label")(session, TEMPLATES[0])["Value"][0]
    assert call(proxy, "VM.start")(session, template, False, False)["ErrorDescription"] == ["VM_IS_TEMPLATE", template]
    missing = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert call(proxy, "VM.get_record")(session, missing)["ErrorDescription"] == ["HANDLE_INVALID", "VM", missing]
    vm = call(proxy, "VM.clone")(session, template, "x")["Value"]
    assert call(proxy, "VM.provision")(session, vm)["Status"] == "Success"
    assert call(proxy, "VM.set_is_a_template")(session, vm, False)["Status"] == "Success"
    assert call(proxy, "VM.suspend")(session, vm)["ErrorDescription"] == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert call(proxy, "VM.start")(session, vm, False, False)["Status"] == "Success"
    assert call(proxy, "VM.destroy")(session, vm)["ErrorDescription"] == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert call(proxy, "session.logout")(session)["Status"] == "Success"
    assert call(proxy, "VM.get_all")(session)["ErrorDescription"][0] == "SESSION_INVALID"
    assert server.requests[:2] == ["session.login_with_password", "session.login_with_password"]


def test_a_guest_without_pv_drivers_refuses_clean_operations_as_xapi_does(server: XapiStandIn) -> None:
    proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
    call = getattr
    session = call(proxy, "session.login_with_password")("root", "pw", "2.0", "t")["Value"]
    template = call(proxy, "VM.get_by_name_label")(session, TEMPLATES[0])["Value"][0]
    vm = call(proxy, "VM.clone")(session, template, "no-tools")["Value"]
    assert call(proxy, "VM.provision")(session, vm)["Status"] == "Success"
    assert call(proxy, "VM.set_is_a_template")(session, vm, False)["Status"] == "Success"
    assert call(proxy, "VM.start")(session, vm, False, False)["Status"] == "Success"
    # With the PV drivers, the guest reports their version and features, and shuts down cleanly.
    guest = call(proxy, "VM.get_guest_metrics")(session, vm)["Value"]
    record = call(proxy, "VM_guest_metrics.get_record")(session, guest)["Value"]
    assert record["PV_drivers_detected"] is True and record["other"]["feature-shutdown"] == "1"
    assert call(proxy, "VM.clean_reboot")(session, vm)["Status"] == "Success"

    with server.state.lock:
        server.state.remove_pv_drivers(vm)
    lacks = {"Status": "Failure", "ErrorDescription": ["VM_LACKS_FEATURE", vm]}
    assert call(proxy, "VM.clean_shutdown")(session, vm) == lacks
    assert call(proxy, "VM.clean_reboot")(session, vm) == lacks
    assert call(proxy, "VM.suspend")(session, vm) == lacks
    assert call(proxy, "VM.get_power_state")(session, vm)["Value"] == "Running"
    assert call(proxy, "VM.hard_reboot")(session, vm)["Status"] == "Success"
    assert call(proxy, "VM.hard_shutdown")(session, vm)["Status"] == "Success"
    # A halted VM is refused for its power state first, as xapi checks that before features.
    assert call(proxy, "VM.clean_shutdown")(session, vm)["ErrorDescription"] == [
        "VM_BAD_POWER_STATE",
        vm,
        "running",
        "halted",
    ]
