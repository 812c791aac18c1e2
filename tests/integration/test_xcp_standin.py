"""The XAPI stand-in's wire format, read with a plain XML-RPC client (no XenAPI): what real xapi answers."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
import xmlrpc.client
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.standins.xapi import TEMPLATES, XapiStandIn

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[XapiStandIn]:
    with XapiStandIn("root", "pw") as standin:
        yield standin


def login(server: XapiStandIn) -> str:
    proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
    session: str = getattr(proxy, "session.login_with_password")("root", "pw", "2.0", "t")["Value"]
    return session


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
    assert call(proxy, "VM.start")(session, template, False, False)["ErrorDescription"] == [
        "VM_IS_TEMPLATE",
        template,
        "start",
    ]
    missing = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert call(proxy, "VM.get_record")(session, missing)["ErrorDescription"] == ["HANDLE_INVALID", "VM", missing]
    vm = call(proxy, "VM.clone")(session, template, "x")["Value"]
    assert call(proxy, "VM.provision")(session, vm)["Status"] == "Success"
    assert call(proxy, "VM.set_is_a_template")(session, vm, False)["Status"] == "Success"
    assert call(proxy, "VM.suspend")(session, vm)["ErrorDescription"] == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert call(proxy, "VM.start")(session, vm, False, False)["Status"] == "Success"
    assert call(proxy, "VM.destroy")(session, vm)["ErrorDescription"] == [
        "VM_BAD_POWER_STATE",
        vm,
        "halted, suspended",
        "running",
    ]
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


# --- xcp-rrdd's /rrd_updates on the host's HTTP interface -------------------------------------------------------------

REFERENCE = Path(__file__).parents[1] / "standins" / "xapi" / "reference" / "rrd_updates.xml"


def http_get(server: XapiStandIn, query: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    address = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", f"/rrd_updates?{query}", headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def running_vm(server: XapiStandIn, session: str) -> tuple[str, str]:
    proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
    call = getattr
    template = call(proxy, "VM.get_by_name_label")(session, TEMPLATES[0])["Value"][0]
    vm = call(proxy, "VM.clone")(session, template, "measured")["Value"]
    assert call(proxy, "VM.provision")(session, vm)["Status"] == "Success"
    assert call(proxy, "VM.set_is_a_template")(session, vm, False)["Status"] == "Success"
    network = call(proxy, "network.get_all")(session)["Value"][0]
    vif = {"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500", "other_config": {}}
    assert (
        call(proxy, "VIF.create")(session, {**vif, "qos_algorithm_type": "", "qos_algorithm_params": {}})["Status"]
        == "Success"
    )
    assert call(proxy, "VM.start")(session, vm, False, False)["Status"] == "Success"
    return vm, call(proxy, "VM.get_uuid")(session, vm)["Value"]


def xml(body: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(body)  # noqa: S314 - the stand-in's answer or the reference, both ours


def shape(element: ElementTree.Element) -> list[str]:
    """The element paths of an xport document, each once, in document order: its structure without its values."""
    seen: list[str] = []

    def walk(e: ElementTree.Element, path: str) -> None:
        here = f"{path}/{e.tag}"
        if here not in seen:
            seen.append(here)
        for child in e:
            walk(child, here)

    walk(element, "")
    return seen


def test_rrd_updates_is_authenticated_as_xapis_http_handlers_are(server: XapiStandIn) -> None:
    session = login(server)
    status, headers, body = http_get(server, "start=0")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="rrd_updates"'
    assert headers["Content-Type"] == "text/html" and b"HTTP 401 unauthorised" in body
    assert http_get(server, "session_id=OpaqueRef:nobody&start=0")[0] == 401
    # HTTP Basic credentials work too, as xapi logs them in for the request.
    good = base64.b64encode(b"root:pw").decode()
    bad = base64.b64encode(b"root:nope").decode()
    assert http_get(server, "start=0", {"Authorization": f"Basic {good}"})[0] == 200
    assert http_get(server, "start=0", {"Authorization": f"Basic {bad}"})[0] == 401
    assert http_get(server, "start=0", {"Cookie": f"session_id={session}"})[0] == 200
    # `start` is required (400, after authentication); one xcp-rrdd cannot read is its 500.
    assert http_get(server, f"session_id={session}")[0] == 400
    assert http_get(server, f"session_id={session}&start=yesterday")[0] == 500


def test_rrd_updates_has_the_structure_of_the_documented_example(server: XapiStandIn) -> None:
    session = login(server)
    vm, vm_uuid = running_vm(server, session)
    with server.state.lock:
        server.state.backdate(vm, 30 * 60)
    start = int(time.time()) - 3600
    status, headers, body = http_get(server, f"session_id={session}&start={start}&vm_uuid={vm_uuid}&cf=AVERAGE")
    assert status == 200 and headers["Content-Type"] == "text/xml"
    assert headers["Access-Control-Allow-Origin"] == "*"
    answer = xml(body)
    assert shape(answer) == shape(xml(REFERENCE.read_bytes()))

    legend = [e.text or "" for e in answer.iterfind("meta/legend/entry")]
    rows = answer.findall("data/row")
    assert int(answer.findtext("meta/columns", "")) == len(legend)
    assert int(answer.findtext("meta/rows", "")) == len(rows)
    assert all(len(row.findall("v")) == len(legend) for row in rows)
    # Its domain's data sources as xcp-rrdd's plugins name them; a device's figures beside its bytes.
    sources = {entry.removeprefix(f"AVERAGE:vm:{vm_uuid}:") for entry in legend}
    assert {"cpu0", "cpu_usage", "memory", "vif_0_rx", "vif_0_tx", "vbd_xvda_read", "vbd_xvda_write"} <= sources
    assert "vbd_xvda_read_latency" in sources and "vbd_xvda_io_throughput_read" in sources
    # An hour back is beyond the 5 s archive's 10 minutes: one row a minute, newest first, the oldest unknown.
    assert int(answer.findtext("meta/step", "")) == 60
    times = [int(row.findtext("t", "")) for row in rows]
    assert times == sorted(times, reverse=True) and all(t % 60 == 0 for t in times)
    assert times[0] == int(answer.findtext("meta/end", ""))
    first = legend.index(f"AVERAGE:vm:{vm_uuid}:cpu0")
    values = [row.findall("v")[first].text for row in rows]
    assert values[-1] == "NaN" and values[0] != "NaN"
    assert 0 < float(values[0] or "") < 1

    # Less than ten minutes back: the 5 s archive.
    recent = xml(http_get(server, f"session_id={session}&start={int(time.time()) - 590}")[2])
    assert int(recent.findtext("meta/step", "")) == 5


def test_rrd_updates_owners_consolidations_and_formats(server: XapiStandIn) -> None:
    session = login(server)
    _vm, vm_uuid = running_vm(server, session)
    start = int(time.time()) - 300
    with server.state.lock:
        dom0 = next(r["uuid"] for r in server.state.objects["VM"].values() if r["is_control_domain"])
        host = next(iter(server.state.objects["host"].values()))["uuid"]
    # Every resident domain's RRD by default (dom0's among them), the host's with min and max when asked.
    body = http_get(server, f"session_id={session}&start={start}&host=true")[2]
    legend = [e.text or "" for e in xml(body).iterfind("meta/legend/entry")]
    assert {e.split(":")[0] for e in legend if e.split(":")[1] == "host"} == {"AVERAGE", "MIN", "MAX"}
    assert all(e.split(":")[2] == host for e in legend if e.split(":")[1] == "host")
    assert f"AVERAGE:vm:{dom0}:cpu0" in legend
    assert http_get(server, f"session_id={session}&start={start}&host=false&vm_uuid={dom0}")[0] == 200
    # A VM with no RRD on the host (never started, or just started and not read yet), alone, is xcp-rrdd's
    # No_RRA_Available: a 500. So is a consolidation VM RRDs do not keep.
    with server.state.lock:
        halted = next(r["uuid"] for r in server.state.objects["VM"].values() if r["power_state"] == "Halted")
    assert http_get(server, f"session_id={session}&start={start}&vm_uuid={halted}")[0] == 500
    assert http_get(server, f"session_id={session}&start={start}&cf=MIN")[0] == 500
    assert http_get(server, f"session_id={session}&start={start}&vm_uuid={vm_uuid}&vm_uuid={dom0}")[0] == 200

    # JSON for `json` in the query, or an Accept that prefers it (anything, `*/*`, included); XML otherwise.
    plain = f"session_id={session}&start={start}&vm_uuid={dom0}"
    for query, accept, expected in (
        (plain, None, "text/xml"),
        (f"{plain}&json", None, "application/json"),
        (plain, "*/*", "application/json"),
        (plain, "application/json", "application/json"),
        (plain, "text/xml", "text/xml"),
        (f"{plain}&json", "text/xml", "text/xml"),
    ):
        status, headers, body = http_get(server, query, {"Accept": accept} if accept else None)
        assert (status, headers["Content-Type"]) == (200, expected), (query, accept)
    doc = json.loads(http_get(server, f"{plain}&json")[2])
    assert set(doc) == {"meta", "data"} and doc["meta"]["columns"] == len(doc["meta"]["legend"])
    assert all(isinstance(v, str) for row in doc["data"] for v in row["values"])


def test_vm_metrics_keep_the_values_xapi_leaves_there(server: XapiStandIn) -> None:
    session = login(server)
    vm, _uuid = running_vm(server, session)
    proxy = xmlrpc.client.ServerProxy(server.url, allow_none=True)
    metrics = getattr(proxy, "VM.get_metrics")(session, vm)["Value"]
    record = getattr(proxy, "VM_metrics.get_record")(session, metrics)["Value"]
    assert record["VCPUs_utilisation"] == {"0": 0.0}
    assert record["last_updated"] == xmlrpc.client.DateTime("19700101T00:00:00Z")
    assert record["VCPUs_number"] == "1"
