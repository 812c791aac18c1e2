"""A local XAPI (XenServer / XCP-ng management API) stand-in that speaks XAPI's XML-RPC wire format.

Written from the public XenAPI reference: every method takes a session reference first (except the login calls)
and answers `{"Status": "Success", "Value": ...}` or `{"Status": "Failure", "ErrorDescription": [CODE, ...]}`.
int64 fields travel as decimal strings as real XAPI sends them; references read `OpaqueRef:<uuid>`. The state is in
memory; every request's method name is logged (`requests`) so a test can see the real XenAPI client went over the
wire. Binds 127.0.0.1 on a port the kernel picks.

Beside XML-RPC, the same port serves what xapi serves over plain HTTP: xcp-rrdd's `GET /rrd_updates` (`rrd`),
authenticated as xapi's HTTP handlers are (a `session_id` in the query or a cookie, or HTTP Basic credentials;
otherwise 401). Like today's xapi, the stand-in leaves `VM_metrics.VCPUs_utilisation` at `{0: 0.0}`, stamped 1970:
the figures are only in the RRDs.
"""

from __future__ import annotations

import base64
import copy
import email.message
import inspect
import re
import threading
import time
import urllib.parse
import uuid
import xmlrpc.client
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from tests.standins.xapi import records, rrd

Record = dict[str, Any]

API_MAJOR = "2"
API_MINOR = "21"
GIB = 1024**3
MIB = 1024**2
HOST_MEMORY = 64 * GIB
HOST_CPUS = 4
# The host came up this long before the stand-in started: its own and dom0's RRDs have that much history.
UPTIME_SECONDS = 3600.0
EPOCH = "19700101T00:00:00Z"

TEMPLATES = ("Debian Bookworm 12", "Ubuntu Noble 24.04")

# What a guest with the PV drivers (and their agent) reports in VM_guest_metrics.
PV_DRIVERS_VERSION = {"major": "9", "minor": "4", "micro": "0", "build": "100"}
PV_FEATURES = {
    "feature-shutdown": "1",
    "feature-poweroff": "1",
    "feature-reboot": "1",
    "feature-suspend": "1",
    "feature-vcpu-hotplug": "1",
}
# xapi's check_op_for_feature (xapi_vm_lifecycle.ml): on a running HVM guest without PV drivers, an operation that
# needs the guest's help is refused with VM_LACKS_FEATURE unless guest metrics' `other` shows one of its features.
NEEDS_FEATURE = {
    "clean_shutdown": ("feature-shutdown", "feature-poweroff"),
    "clean_reboot": ("feature-shutdown", "feature-reboot"),
    "suspend": ("feature-suspend",),
}


# xapi_vm_lifecycle.ml's allowed_power_states, for the operations the stand-in has, in its order (which is the order
# of VM_BAD_POWER_STATE's "expected"). A snapshot may also be cloned or copied while suspended.
ALLOWED_POWER_STATES: dict[str, tuple[str, ...]] = {
    "provision": ("Halted",),
    "start": ("Halted",),
    "make_into_template": ("Halted",),
    "changing_VCPUs": ("Halted",),
    "changing_memory_limits": ("Halted",),
    "unpause": ("Paused",),
    "resume": ("Suspended",),
    "clean_reboot": ("Running",),
    "clean_shutdown": ("Running",),
    "pause": ("Running",),
    "suspend": ("Running",),
    "clone": ("Halted",),
    "copy": ("Halted",),
    "destroy": ("Halted", "Suspended"),
    "export": ("Halted", "Suspended"),
    "hard_reboot": ("Paused", "Running"),
    "hard_shutdown": ("Paused", "Suspended", "Running"),
    "snapshot": ("Halted", "Paused", "Suspended", "Running"),
}
# check_template: what a (non-default) template allows; check_snapshot: what a snapshot allows.
TEMPLATE_OPERATIONS = frozenset(
    {"changing_memory_limits", "changing_VCPUs", "clone", "copy", "export", "provision", "destroy"}
)
SNAPSHOT_OPERATIONS = frozenset({"clone", "copy", "export", "destroy", "hard_shutdown"})
# The control domain's, beside those of memory and VCPUs: start, destroy (which dom0 refuses by itself).
CONTROL_DOMAIN_OPERATIONS = frozenset({"changing_memory_limits", "changing_VCPUs", "start", "destroy"})


class XapiFailure(Exception):
    def __init__(self, *description: str) -> None:
        super().__init__(*description)
        self.description = [str(d) for d in description]


def _ref() -> str:
    return f"OpaqueRef:{uuid.uuid4()}"


def _now() -> xmlrpc.client.DateTime:
    return xmlrpc.client.DateTime(datetime.now(UTC).strftime("%Y%m%dT%H:%M:%SZ"))


def _disks_xml(size_bytes: int, sr_uuid: str) -> str:
    return f'<provision><disk device="0" size="{size_bytes}" sr="{sr_uuid}" bootable="true" type="system"/></provision>'


_DISK = re.compile(r'<disk device="(\d+)" size="(\d+)" sr="([^"]*)" bootable="(true|false)" type="(\w+)"/>')


class XapiState:
    """One pool with one host, one SR, one network, templates; the objects XAPI's classes name, by reference."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.lock = threading.RLock()
        self.sessions: set[str] = set()
        self.objects: dict[str, dict[str, Record]] = {
            c: {}
            for c in (
                "pool",
                "host",
                "host_metrics",
                "VM",
                "VM_metrics",
                "VM_guest_metrics",
                "VDI",
                "VBD",
                "SR",
                "network",
                "VIF",
            )
        }
        self._ip = 10
        self.booted = time.time() - UPTIME_SECONDS
        # xcp-rrdd's RRDs: the host's, and each domain's by VM uuid (dom0's among them).
        self.rrds: dict[str, rrd.DomainRrd] = {}
        self.host_metrics = self._add("host_metrics", memory_total=str(HOST_MEMORY), memory_free=str(HOST_MEMORY))
        self.host = self._add(
            "host",
            name_label="xcp-standin-host",
            hostname="xcp-standin-host",
            address="127.0.0.1",
            API_version_major=API_MAJOR,
            API_version_minor=API_MINOR,
            metrics=self.host_metrics,
            resident_VMs=[],
            enabled=True,
        )
        self.sr = self._add(
            "SR",
            name_label="Local storage",
            name_description="",
            type="ext",
            content_type="user",
            physical_size=str(1024 * GIB),
            physical_utilisation="0",
            virtual_allocation="0",
            VDIs=[],
            PBDs=[],
            shared=False,
            other_config={},
        )
        self.network = self._add(
            "network", name_label="Pool-wide network associated with eth0", bridge="xenbr0", VIFs=[], other_config={}
        )
        self.pool = self._add("pool", name_label="standin-pool", master=self.host, default_SR=self.sr, other_config={})
        dom0 = self._new_vm("Control domain on host: xcp-standin-host", template=False)
        self.objects["VM"][dom0].update(is_control_domain=True, power_state="Running", resident_on=self.host, domid="0")
        self.objects["host"][self.host]["control_domain"] = dom0
        self.host_rrd = self._host_rrd()
        dom0_rrd = self.rrd_of(dom0)
        dom0_rrd.start(self.booted)
        self._track(dom0, self.booted)
        for name in TEMPLATES:
            template = self._new_vm(name, template=True)
            rec = self.objects["VM"][template]
            rec["other_config"] = {"default_template": "true", "disks": _disks_xml(8 * GIB, "")}
            rec["name_description"] = f"Template for {name}"

    # --- helpers -------------------------------------------------------------------------------------------------

    def _add(self, cls: str, **fields: Any) -> str:
        ref = _ref()
        self.objects[cls][ref] = {**records.blank(cls), "uuid": str(uuid.uuid4()), **fields}
        return ref

    def _new_vm(self, name: str, *, template: bool) -> str:
        # copy_metrics (xapi_vm_helpers.ml): VCPUs_utilisation is created as {0: 0.0} and never written again.
        metrics = self._add(
            "VM_metrics",
            memory_actual="0",
            VCPUs_number="0",
            VCPUs_utilisation={"0": 0.0},
            start_time=xmlrpc.client.DateTime(EPOCH),
            last_updated=xmlrpc.client.DateTime(EPOCH),
            hvm=False,
        )
        return self._add(
            "VM",
            name_label=name,
            name_description="",
            power_state="Halted",
            is_a_template=template,
            is_a_snapshot=False,
            snapshot_of="OpaqueRef:NULL",
            snapshots=[],
            snapshot_time=xmlrpc.client.DateTime("19700101T00:00:00Z"),
            is_control_domain=False,
            other_config={},
            tags=[],
            VCPUs_max="1",
            VCPUs_at_startup="1",
            memory_static_max=str(256 * MIB),
            memory_dynamic_max=str(256 * MIB),
            memory_dynamic_min=str(256 * MIB),
            memory_static_min=str(256 * MIB),
            VBDs=[],
            VIFs=[],
            metrics=metrics,
            guest_metrics="OpaqueRef:NULL",
            resident_on="OpaqueRef:NULL",
            domid="-1",
            allowed_operations=[],
        )

    def get(self, cls: str, ref: Any) -> Record:
        found = self.objects[cls].get(ref) if isinstance(ref, str) else None
        if found is None:
            raise XapiFailure("HANDLE_INVALID", cls, str(ref))
        return found

    def _vm(self, ref: Any) -> Record:
        return self.get("VM", ref)

    def operation_error(self, ref: str, op: str) -> list[str] | None:
        """check_operation_error (xapi_vm_lifecycle.ml), in its order, for the operations the stand-in has: the power
        state first, then another operation in progress, the template, the snapshot, provisioning a non-template,
        the control domain, and the guest's features."""
        vm = self._vm(ref)
        power = vm["power_state"]
        allowed = ALLOWED_POWER_STATES[op]
        if op in ("clone", "copy") and vm["is_a_snapshot"]:
            allowed = (*allowed, "Suspended")
        if power not in allowed:
            return ["VM_BAD_POWER_STATE", ref, ", ".join(a.lower() for a in allowed), power.lower()]
        if vm["current_operations"]:
            task, current = next(iter(vm["current_operations"].items()))
            return ["OTHER_OPERATION_IN_PROGRESS", "VM", ref, current, task]
        if vm["is_a_template"] and not vm["is_a_snapshot"]:
            default = vm["is_default_template"] or vm["other_config"].get("default_template") == "true"
            if op not in TEMPLATE_OPERATIONS or (op == "destroy" and default):
                return ["VM_IS_TEMPLATE", ref, op]
        if vm["is_a_snapshot"] and op not in SNAPSHOT_OPERATIONS:
            return ["VM_IS_SNAPSHOT", ref, op]
        if op == "provision" and not vm["is_a_template"]:
            return ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]
        if vm["is_control_domain"]:
            if op == "destroy":
                return ["OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0"]
            if op not in CONTROL_DOMAIN_OPERATIONS:
                return ["OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain"]
        if op in NEEDS_FEATURE and not self._has_feature(ref, op):
            return ["VM_LACKS_FEATURE", ref]
        return None

    def _power(self, ref: str, op: str) -> Record:
        """The VM, once `op` is valid on it; xapi's error for it otherwise."""
        error = self.operation_error(ref, op)
        if error is not None:
            raise XapiFailure(*error)
        return self._vm(ref)

    def update_allowed_operations(self, ref: str) -> None:
        """VM.allowed_operations as xapi keeps it: every operation that would pass its checks now."""
        vm = self._vm(ref)
        vm["allowed_operations"] = [op for op in ALLOWED_POWER_STATES if self.operation_error(ref, op) is None]

    def begin_operation(self, ref: str, op: str) -> str:
        """`op` in progress on the VM, as another client's task would hold it: the task's reference."""
        task = _ref()
        self._vm(ref)["current_operations"][task] = op
        self.update_allowed_operations(ref)
        return task

    def end_operation(self, ref: str, task: str) -> None:
        self._vm(ref)["current_operations"].pop(task, None)
        self.update_allowed_operations(ref)

    def _set_power(self, ref: str, state: str, *, new_domain: bool = False) -> None:
        """`state` for the VM, and what follows from it: its domain made or destroyed (a reboot makes a new one),
        its devices plugged or unplugged, and xcp-rrdd told."""
        vm = self._vm(ref)
        before = vm["power_state"]
        vm["power_state"] = state
        metrics = self.get("VM_metrics", vm["metrics"])
        now = time.time()
        history = self.rrd_of(ref)
        if state in ("Running", "Paused"):
            if before in ("Halted", "Suspended") or new_domain:
                history.stop(now)
                history.start(now)
                vm["domid"] = str(len(self.objects["VM"]) + len(history.lives))
                metrics.update(start_time=_now())
            if state == "Paused" and before != "Paused":
                history.pause(now)
            elif state == "Running" and before == "Paused" and not new_domain:
                history.unpause(now)
            vm["resident_on"] = self.host
            metrics.update(
                VCPUs_number=vm["VCPUs_at_startup"],
                memory_actual=vm["memory_dynamic_max"],
                hvm=True,  # the templates' guests boot HVM, as today's xapi templates do
            )
            if vm["guest_metrics"] == "OpaqueRef:NULL":
                networks = {}
                for vif in vm["VIFs"]:
                    device = self.get("VIF", vif)["device"]
                    self._ip += 1
                    networks[f"{device}/ip"] = f"10.0.0.{self._ip}"
                vm["guest_metrics"] = self._add(
                    "VM_guest_metrics",
                    os_version={"name": vm["name_label"]},
                    networks=networks,
                    PV_drivers_detected=True,
                    PV_drivers_version=dict(PV_DRIVERS_VERSION),
                    other=dict(PV_FEATURES),
                    last_updated=_now(),
                )
            for vbd in vm["VBDs"]:
                self._plugged(vbd, True)
            for vif in vm["VIFs"]:
                self.get("VIF", vif)["currently_attached"] = True
        elif state in ("Halted", "Suspended"):
            history.stop(now)
            vm["domid"] = "-1"
            vm["resident_on"] = "OpaqueRef:NULL"
            metrics.update(VCPUs_number="0", memory_actual="0")
            for vbd in vm["VBDs"]:
                self._plugged(vbd, False)
            for vif in vm["VIFs"]:
                self.get("VIF", vif)["currently_attached"] = False
        self._track(ref, now)

    def _plugged(self, vbd_ref: str, attached: bool) -> None:
        vbd = self.get("VBD", vbd_ref)
        vbd["currently_attached"] = attached
        if attached and vbd["userdevice"].isdigit():
            vbd["device"] = f"xvd{chr(ord('a') + int(vbd['userdevice']))}"

    # --- xcp-rrdd ------------------------------------------------------------------------------------------------

    def rrd_of(self, vm_ref: str) -> rrd.DomainRrd:
        """The VM's RRD history (made empty the first time it is asked for)."""
        vm_uuid = self._vm(vm_ref)["uuid"]
        found = self.rrds.get(vm_uuid)
        if found is None:
            found = self.rrds[vm_uuid] = rrd.DomainRrd(vm_uuid, min_max=False)
        return found

    def _track(self, vm_ref: str, now: float) -> None:
        """Tell xcp-rrdd which data sources the plugins report for the VM now: one per vCPU (rrdp-cpu), its memory
        (rrdp-squeezed), each plugged VIF (rrdp-netdev) and disk (rrdp-iostat)."""
        vm = self._vm(vm_ref)
        history = self.rrd_of(vm_ref)
        if not history.resident:
            history.track(now, {})
            return
        vcpus = max(1, int(vm["VCPUs_at_startup"]))
        memory = float(vm["memory_dynamic_max"])

        # The load is read at each point, so a test may set it after the VM started.
        def busy(vcpu: int) -> rrd.Value:
            return lambda t, paused: 0.0 if paused else history.cpu(t, vcpu)

        def rate(what: str, scale: float = 1.0) -> rrd.Value:
            return lambda t, paused: 0.0 if paused else float(getattr(history.load, what)) * scale

        def level(amount: float) -> rrd.Value:
            return lambda t, paused: amount

        wanted: dict[str, tuple[bool, rrd.Value]] = {f"cpu{i}": (True, busy(i)) for i in range(vcpus)}
        wanted["cpu_usage"] = (
            True,
            lambda t, paused: 0.0 if paused else sum(history.cpu(t, i) for i in range(vcpus)) / vcpus,
        )
        wanted["memory"] = (False, level(memory))
        if not vm["is_control_domain"]:
            wanted["memory_target"] = (False, level(memory))
            wanted["memory_internal_free"] = (False, level(memory * 0.4 / 1024))  # KiB, from the guest agent
        for vif_ref in vm["VIFs"]:
            vif = self.get("VIF", vif_ref)
            if vif["currently_attached"]:
                wanted[f"vif_{vif['device']}_rx"] = (True, rate("rx"))
                wanted[f"vif_{vif['device']}_tx"] = (True, rate("tx"))
        for vbd_ref in vm["VBDs"]:
            vbd = self.get("VBD", vbd_ref)
            if vbd["currently_attached"] and vbd["device"]:
                dev = vbd["device"]
                wanted[f"vbd_{dev}_read"] = (True, rate("read"))
                wanted[f"vbd_{dev}_write"] = (True, rate("write"))
                wanted[f"vbd_{dev}_read_latency"] = (False, level(180.0))
                wanted[f"vbd_{dev}_write_latency"] = (False, level(260.0))
                wanted[f"vbd_{dev}_io_throughput_read"] = (True, rate("read", 1 / MIB))
                wanted[f"vbd_{dev}_io_throughput_write"] = (True, rate("write", 1 / MIB))
        history.track(now, wanted)

    def _host_rrd(self) -> rrd.DomainRrd:
        """The host's RRD (rrdp-cpu's physical CPUs, its load and memory), kept with min and max as xcp-rrdd keeps a
        host's."""
        host = rrd.DomainRrd(self.get("host", self.host)["uuid"], min_max=True, load=rrd.Load(cpu=0.3))
        host.start(self.booted)

        def level(amount: float) -> rrd.Value:
            return lambda t, paused: amount

        def busy(cpu: int) -> rrd.Value:
            return lambda t, paused: host.cpu(t, cpu)

        wanted: dict[str, tuple[bool, rrd.Value]] = {f"cpu{i}": (True, busy(i)) for i in range(HOST_CPUS)}
        wanted["cpu_avg"] = (True, level(0.3))
        wanted["loadavg"] = (False, level(0.42))
        wanted["memory_total_kib"] = (False, level(HOST_MEMORY / 1024))
        wanted["memory_free_kib"] = (False, level(HOST_MEMORY / 2048))
        host.track(self.booted, wanted)
        return host

    def set_load(self, vm_ref: str, load: rrd.Load) -> None:
        """What the VM's guest does from now on (and, as the stand-in computes its history, did before)."""
        self.rrd_of(vm_ref).load = load

    def backdate(self, vm_ref: str, seconds: float) -> None:
        """As if the running VM had been started `seconds` earlier: xcp-rrdd has that much history of it."""
        self.rrd_of(vm_ref).backdate(seconds)

    def rrd_updates(self, query: list[tuple[str, str]], now: float) -> rrd.Export:
        """`get_rrd_updates_handler`'s export for `query` (its `start` known to be there)."""
        start = int(next(v for k, v in query if k == "start"))  # ValueError: xcp-rrdd's answer is a 500
        params = dict(query)
        cf = params.get("cf") if params.get("cf") in rrd.CFS else None
        try:
            interval = int(params.get("interval", "0"))
        except ValueError:
            interval = 0
        wanted = [v for k, v in query if k == "vm_uuid"]
        chosen: list[tuple[str, rrd.DomainRrd]] = []
        if params.get("host") == "true":
            chosen.append((f"host:{self.host_rrd.uuid}:", self.host_rrd))
        for vm_uuid, history in self.rrds.items():
            if history.served(now) and (not wanted or vm_uuid in wanted):
                chosen.append((f"vm:{vm_uuid}:", history))
        return rrd.export(chosen, now, start, interval, cf)

    def remove_pv_drivers(self, ref: str) -> None:
        """The VM's guest as one without PV drivers or guest agent reports itself: no drivers, no features."""
        gm = self.get("VM_guest_metrics", self._vm(ref)["guest_metrics"])
        gm.update(PV_drivers_detected=False, PV_drivers_version={}, other={}, networks={})

    def _has_feature(self, ref: str, op: str) -> bool:
        """check_op_for_feature: whether the guest can take part in `op`; only a running guest not known to have
        booted PV, without PV drivers (a parseable PV_drivers_version) and without any of the features `op` needs in
        guest metrics' `other` cannot."""
        vm = self._vm(ref)
        if vm["power_state"] != "Running":
            return True
        metrics = self.objects["VM_metrics"].get(vm["metrics"])
        if metrics is not None and metrics.get("hvm") is False:
            return True  # PV guests offer support implicitly
        gm = self.objects["VM_guest_metrics"].get(vm["guest_metrics"])
        version = gm.get("PV_drivers_version", {}) if gm is not None else {}
        if "major" in version and "minor" in version:
            return True  # full PV drivers imply all features
        other = gm.get("other", {}) if gm is not None else {}
        return any(other.get(feature) == "1" for feature in NEEDS_FEATURE[op])

    def _guest_transition(self, ref: Any, op: str, to: str) -> str:
        self._power(ref, op)
        self._set_power(ref, to, new_domain=op == "clean_reboot")
        return ""

    def _copy_vdi(self, vdi_ref: str, *, snapshot: bool) -> str:
        source = self.get("VDI", vdi_ref)
        fields = copy.deepcopy({k: v for k, v in source.items() if k != "uuid"})
        fields.update(VBDs=[], is_a_snapshot=snapshot, snapshots=[])
        fields["snapshot_of"] = vdi_ref if snapshot else "OpaqueRef:NULL"
        fields["snapshot_time"] = _now() if snapshot else xmlrpc.client.DateTime("19700101T00:00:00Z")
        new = self._add("VDI", **fields)
        if snapshot:
            source["snapshots"].append(new)
        self.get("SR", fields["SR"])["VDIs"].append(new)
        return new

    def _new_vbd(self, vm_ref: str, vdi_ref: str, userdevice: str, bootable: bool) -> str:
        vbd = self._add(
            "VBD",
            VM=vm_ref,
            VDI=vdi_ref,
            userdevice=userdevice,
            device="",
            bootable=bootable,
            mode="RW",
            type="Disk",
            empty=False,
            currently_attached=False,
            other_config={},
        )
        self._vm(vm_ref)["VBDs"].append(vbd)
        self.get("VDI", vdi_ref)["VBDs"].append(vbd)
        return vbd

    def _copy_vm(self, ref: str, name: str, *, snapshot: bool) -> str:
        source = self._vm(ref)
        new = self._new_vm(name, template=source["is_a_template"] or snapshot)
        rec = self._vm(new)
        for key in ("other_config", "VCPUs_max", "VCPUs_at_startup", "name_description", "tags"):
            rec[key] = copy.deepcopy(source[key])
        for key in ("memory_static_max", "memory_dynamic_max", "memory_dynamic_min", "memory_static_min"):
            rec[key] = source[key]
        if snapshot:
            rec.update(is_a_snapshot=True, snapshot_of=ref, snapshot_time=_now())
            source["snapshots"].append(new)
        for vbd_ref in source["VBDs"]:
            vbd = self.get("VBD", vbd_ref)
            disk = self._copy_vdi(vbd["VDI"], snapshot=snapshot)
            self._new_vbd(new, disk, vbd["userdevice"], vbd["bootable"])
        for vif_ref in source["VIFs"]:
            vif = self.get("VIF", vif_ref)
            self._new_vif(new, vif["network"], vif["device"])
        return new

    def _new_vif(self, vm_ref: str, network: str, device: str) -> str:
        self.get("network", network)
        vif = self._add(
            "VIF",
            VM=vm_ref,
            network=network,
            device=device,
            MAC=f"02:00:00:{uuid.uuid4().hex[:2]}:{uuid.uuid4().hex[:2]}:{uuid.uuid4().hex[:2]}",
            MTU="1500",
            currently_attached=False,
            other_config={},
        )
        self._vm(vm_ref)["VIFs"].append(vif)
        self.get("network", network)["VIFs"].append(vif)
        return vif

    def _destroy_vdi(self, ref: str) -> None:
        vdi = self.get("VDI", ref)
        if any(self.get("VBD", v)["currently_attached"] for v in vdi["VBDs"]):
            raise XapiFailure("VDI_IN_USE", ref, "destroy")
        for vbd in list(vdi["VBDs"]):
            self._destroy_vbd(vbd)
        self.get("SR", vdi["SR"])["VDIs"].remove(ref)
        del self.objects["VDI"][ref]

    def vdi_destroy(self, ref: Any) -> str:
        self._destroy_vdi(ref)
        return ""

    def _destroy_vbd(self, ref: str) -> None:
        vbd = self.get("VBD", ref)
        self._vm(vbd["VM"])["VBDs"].remove(ref)
        self.get("VDI", vbd["VDI"])["VBDs"].remove(ref)
        del self.objects["VBD"][ref]

    # --- the API ---------------------------------------------------------------------------------------------------

    def methods(self) -> dict[str, Callable[..., Any]]:
        """XAPI method name -> implementation taking the arguments after the session reference."""
        m: dict[str, Callable[..., Any]] = {}
        for cls in self.objects:
            m[f"{cls}.get_all"] = lambda c=cls: list(self.objects[c])
            m[f"{cls}.get_all_records"] = lambda c=cls: copy.deepcopy(self.objects[c])
            m[f"{cls}.get_record"] = lambda ref, c=cls: copy.deepcopy(self.get(c, ref))
            m[f"{cls}.get_by_uuid"] = lambda u, c=cls: self._by_uuid(c, u)
            m[f"{cls}.get_uuid"] = lambda ref, c=cls: self.get(c, ref)["uuid"]
            m[f"{cls}.get_other_config"] = lambda ref, c=cls: dict(self.get(c, ref).get("other_config", {}))
            m[f"{cls}.add_to_other_config"] = lambda ref, k, v, c=cls: self._other_config(c, ref, k, v)
            m[f"{cls}.remove_from_other_config"] = lambda ref, k, c=cls: self._other_config(c, ref, k, None)
            m[f"{cls}.set_other_config"] = lambda ref, value, c=cls: self._set(c, ref, "other_config", dict(value))
            m[f"{cls}.get_name_label"] = lambda ref, c=cls: self.get(c, ref)["name_label"]
            m[f"{cls}.set_name_label"] = lambda ref, value, c=cls: self._set(c, ref, "name_label", str(value))
            m[f"{cls}.get_by_name_label"] = lambda name, c=cls: [
                r for r, rec in self.objects[c].items() if rec.get("name_label") == name
            ]
        m.update(
            {
                "pool.get_master": lambda ref: self.get("pool", ref)["master"],
                "pool.get_default_SR": lambda ref: self.get("pool", ref)["default_SR"],
                "host.get_API_version_major": lambda ref: self.get("host", ref)["API_version_major"],
                "host.get_API_version_minor": lambda ref: self.get("host", ref)["API_version_minor"],
                "host.get_metrics": lambda ref: self.get("host", ref)["metrics"],
                "host_metrics.get_memory_total": lambda ref: self.get("host_metrics", ref)["memory_total"],
                "host_metrics.get_memory_free": lambda ref: self.get("host_metrics", ref)["memory_free"],
                "VM.get_power_state": lambda ref: self._vm(ref)["power_state"],
                "VM.get_metrics": lambda ref: self._vm(ref)["metrics"],
                "VM.get_guest_metrics": lambda ref: self._vm(ref)["guest_metrics"],
                "VM.clone": self.vm_clone,
                "VM.copy": lambda ref, name, sr: self.vm_clone(ref, name, "copy"),
                "VM.snapshot": self.vm_snapshot,
                "VM.provision": self.vm_provision,
                "VM.set_is_a_template": self.vm_set_is_a_template,
                "VM.start": self.vm_start,
                "VM.clean_shutdown": lambda ref: self._guest_transition(ref, "clean_shutdown", "Halted"),
                "VM.hard_shutdown": lambda ref: self._transition(ref, "hard_shutdown", "Halted"),
                "VM.clean_reboot": lambda ref: self._guest_transition(ref, "clean_reboot", "Running"),
                "VM.hard_reboot": lambda ref: self._transition(ref, "hard_reboot", "Running", new_domain=True),
                "VM.suspend": lambda ref: self._guest_transition(ref, "suspend", "Suspended"),
                "VM.resume": lambda ref, start_paused, force: self._transition(
                    ref, "resume", "Paused" if start_paused else "Running"
                ),
                "VM.pause": lambda ref: self._transition(ref, "pause", "Paused"),
                "VM.unpause": lambda ref: self._transition(ref, "unpause", "Running"),
                "VM.destroy": self.vm_destroy,
                "VM.set_VCPUs_max": lambda ref, n: self._halted_set(ref, "changing_VCPUs", VCPUs_max=str(int(n))),
                "VM.set_VCPUs_at_startup": self.vm_set_vcpus_at_startup,
                "VM.set_memory_limits": lambda ref, smin, smax, dmin, dmax: self._halted_set(
                    ref,
                    "changing_memory_limits",
                    memory_static_min=str(int(smin)),
                    memory_static_max=str(int(smax)),
                    memory_dynamic_min=str(int(dmin)),
                    memory_dynamic_max=str(int(dmax)),
                ),
                "VDI.create": self.vdi_create,
                "VDI.destroy": self.vdi_destroy,
                "VDI.snapshot": lambda ref, driver_params: self._copy_vdi(ref, snapshot=True),
                "VDI.copy": self.vdi_copy,
                "VDI.resize": self.vdi_resize,
                "VBD.create": self.vbd_create,
                "VBD.destroy": self.vbd_destroy,
                "VBD.plug": self.vbd_plug,
                "VBD.unplug": self.vbd_unplug,
                "VIF.create": self.vif_create,
                "VIF.destroy": self.vif_destroy,
            }
        )
        return m

    def field_getter(self, method: str) -> Callable[..., Any] | None:
        """xapi's generated `<class>.get_<field>` for any field of a class's records, when `method` is one."""
        cls, _, name = method.partition(".")
        if cls not in self.objects or not name.startswith("get_"):
            return None
        key = name.removeprefix("get_")

        def getter(ref: Any) -> Any:
            rec = self.get(cls, ref)
            if key not in rec:
                raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
            return copy.deepcopy(rec[key])

        return getter

    def _by_uuid(self, cls: str, value: Any) -> str:
        for ref, rec in self.objects[cls].items():
            if rec["uuid"] == value:
                return ref
        raise XapiFailure("UUID_INVALID", cls, str(value))

    def _set(self, cls: str, ref: Any, key: str, value: Any) -> str:
        self.get(cls, ref)[key] = value
        return ""

    def _other_config(self, cls: str, ref: Any, key: Any, value: Any) -> str:
        config = self.get(cls, ref).setdefault("other_config", {})
        if value is None:
            config.pop(key, None)
        elif key in config:
            raise XapiFailure("MAP_DUPLICATE_KEY", cls, "other_config", self.get(cls, ref)["uuid"], str(key))
        else:
            config[str(key)] = str(value)
        return ""

    def _transition(self, ref: Any, op: str, to: str, *, new_domain: bool = False) -> str:
        self._power(ref, op)
        self._set_power(ref, to, new_domain=new_domain)
        return ""

    def _halted_set(self, ref: Any, op: str, **fields: str) -> str:
        self._power(ref, op).update(fields)
        return ""

    def vm_set_vcpus_at_startup(self, ref: Any, n: Any) -> str:
        vm = self._vm(ref)
        if int(n) > int(vm["VCPUs_max"]):
            raise XapiFailure("VALUE_NOT_SUPPORTED", "VCPU_at_startup", str(n), "value greater than VCPUs_max")
        return self._halted_set(ref, "changing_VCPUs", VCPUs_at_startup=str(int(n)))

    def vm_clone(self, ref: Any, name: Any, op: str = "clone") -> str:
        self._power(ref, op)
        return self._copy_vm(ref, str(name), snapshot=False)

    def vm_snapshot(self, ref: Any, name: Any) -> str:
        self._power(ref, "snapshot")
        return self._copy_vm(ref, str(name), snapshot=True)

    def vm_provision(self, ref: Any) -> str:
        vm = self._power(ref, "provision")
        disks = vm["other_config"].pop("disks", "")
        for device, size, sr_uuid, bootable, _kind in _DISK.findall(disks):
            sr = (
                self._by_uuid("SR", sr_uuid)
                if sr_uuid
                else self.get("pool", next(iter(self.objects["pool"])))["default_SR"]
            )
            vdi = self.vdi_create(
                {
                    "name_label": f"{vm['name_label']} {device}",
                    "name_description": "Created by template provisioner",
                    "SR": sr,
                    "virtual_size": size,
                    "type": "system",
                    "sharable": False,
                    "read_only": False,
                    "other_config": {},
                }
            )
            self._new_vbd(ref, vdi, device, bootable == "true")
        return ""

    def vm_set_is_a_template(self, ref: Any, value: Any) -> str:
        vm = self._power(ref, "make_into_template") if value else self._vm(ref)
        if vm["is_a_snapshot"] and not value:
            raise XapiFailure("OPERATION_NOT_ALLOWED", "a snapshot stays a template; clone it instead")
        vm["is_a_template"] = bool(value)
        return ""

    def vm_start(self, ref: Any, start_paused: Any, force: Any) -> str:
        vm = self._power(ref, "start")
        if int(vm["memory_static_max"]) > HOST_MEMORY:
            raise XapiFailure("HOST_NOT_ENOUGH_FREE_MEMORY", vm["memory_static_max"], str(HOST_MEMORY))
        self._set_power(ref, "Paused" if start_paused else "Running")
        return ""

    def vm_destroy(self, ref: Any) -> str:
        vm = self._power(ref, "destroy")
        for vbd in list(vm["VBDs"]):
            self._destroy_vbd(vbd)
        for vif in list(vm["VIFs"]):
            self.vif_destroy(vif)
        if vm["is_a_snapshot"] and vm["snapshot_of"] in self.objects["VM"]:
            self._vm(vm["snapshot_of"])["snapshots"].remove(ref)
        self.objects["VM_metrics"].pop(vm["metrics"], None)
        self.objects["VM_guest_metrics"].pop(vm["guest_metrics"], None)
        del self.objects["VM"][ref]
        return ""

    def vdi_create(self, record: Any) -> str:
        sr = record.get("SR")
        self.get("SR", sr)
        try:
            size = int(record["virtual_size"])
        except (KeyError, ValueError) as exc:
            raise XapiFailure("FIELD_TYPE_ERROR", "virtual_size") from exc
        if size <= 0:
            raise XapiFailure("VALUE_NOT_SUPPORTED", "virtual_size", str(size), "must be positive")
        ref = self._add(
            "VDI",
            name_label=str(record.get("name_label", "")),
            name_description=str(record.get("name_description", "")),
            SR=sr,
            virtual_size=str(size),
            physical_utilisation="0",
            type=str(record.get("type", "user")),
            sharable=bool(record.get("sharable", False)),
            read_only=bool(record.get("read_only", False)),
            other_config=dict(record.get("other_config", {})),
            VBDs=[],
            is_a_snapshot=False,
            snapshot_of="OpaqueRef:NULL",
            snapshots=[],
            snapshot_time=xmlrpc.client.DateTime("19700101T00:00:00Z"),
        )
        self.get("SR", sr)["VDIs"].append(ref)
        return ref

    def vdi_resize(self, ref: Any, size: Any) -> str:
        vdi = self.get("VDI", ref)
        if any(self.get("VBD", v)["currently_attached"] for v in vdi["VBDs"]):
            raise XapiFailure("VDI_IN_USE", ref, "resize")
        if int(size) < int(vdi["virtual_size"]):
            raise XapiFailure("VDI_TOO_SMALL", ref, vdi["virtual_size"])
        vdi["virtual_size"] = str(int(size))
        return ""

    def vdi_copy(self, ref: Any, sr: Any) -> str:
        self.get("SR", sr)
        new = self._copy_vdi(ref, snapshot=False)
        self.get("VDI", new)["SR"] = sr
        return new

    def vbd_create(self, record: Any) -> str:
        vm_ref, vdi_ref = record.get("VM"), record.get("VDI")
        vm = self._vm(vm_ref)
        self.get("VDI", vdi_ref)
        device = str(record.get("userdevice", ""))
        used = {self.get("VBD", v)["userdevice"] for v in vm["VBDs"]}
        if device == "autodetect":
            device = str(next(i for i in range(16) if str(i) not in used))
        if device in used:
            raise XapiFailure("DEVICE_ALREADY_EXISTS", device)
        vbd = self._new_vbd(vm_ref, vdi_ref, device, bool(record.get("bootable", False)))
        self.get("VBD", vbd).update(
            mode=str(record.get("mode", "RW")), type=str(record.get("type", "Disk")), empty=bool(record.get("empty"))
        )
        return vbd

    def vbd_destroy(self, ref: Any) -> str:
        vbd = self.get("VBD", ref)
        if vbd["currently_attached"]:
            vm_uuid = self._vm(vbd["VM"])["uuid"]
            raise XapiFailure("OPERATION_NOT_ALLOWED", f"VBD '{vbd['uuid']}' still attached to '{vm_uuid}'")
        self._destroy_vbd(ref)
        return ""

    def vbd_plug(self, ref: Any) -> str:
        vbd = self.get("VBD", ref)
        vm = self._vm(vbd["VM"])
        if vm["power_state"] != "Running":
            raise XapiFailure("VM_BAD_POWER_STATE", vbd["VM"], "running", vm["power_state"].lower())
        if vbd["currently_attached"]:
            raise XapiFailure("DEVICE_ALREADY_ATTACHED", ref)
        self._plugged(ref, True)
        self._track(vbd["VM"], time.time())
        return ""

    def vbd_unplug(self, ref: Any) -> str:
        vbd = self.get("VBD", ref)
        vm = self._vm(vbd["VM"])
        if vm["power_state"] != "Running":
            raise XapiFailure("VM_BAD_POWER_STATE", vbd["VM"], "running", vm["power_state"].lower())
        if not vbd["currently_attached"]:
            raise XapiFailure("DEVICE_ALREADY_DETACHED", ref)
        vbd["currently_attached"] = False
        self._track(vbd["VM"], time.time())
        return ""

    def vif_create(self, record: Any) -> str:
        vm = self._vm(record.get("VM"))
        if vm["power_state"] != "Halted":
            raise XapiFailure("VM_BAD_POWER_STATE", record.get("VM"), "halted", vm["power_state"].lower())
        return self._new_vif(record["VM"], record.get("network"), str(record.get("device", "0")))

    def vif_destroy(self, ref: Any) -> str:
        vif = self.get("VIF", ref)
        self._vm(vif["VM"])["VIFs"].remove(ref)
        self.get("network", vif["network"])["VIFs"].remove(ref)
        del self.objects["VIF"][ref]
        return ""


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        return None

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        standin: XapiStandIn = getattr(self.server, "standin")  # noqa: B009 - set by XapiStandIn.start
        status, reason, headers, body = standin.http_get(self.path, self.headers)
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if ("Connection", "close") in headers:
            self.close_connection = True


# Http_svr's pages for refusals (http_svr.ml).
_UNAUTHORISED = b"<html><body><h1>HTTP 401 unauthorised</h1>Please check your credentials and retry.</body></html>"
_INTERNAL = (
    b"<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try "
    b"again. If the problem persists, please contact your support representative.<h1> Additional information </h1>"
)
_CLOSE = [("Connection", "close"), ("Cache-Control", "no-cache, no-store")]
HttpAnswer = tuple[int, str, list[tuple[str, str]], bytes]


class XapiStandIn:
    """The stand-in server, in a thread: `start()` (or `with`), `url`, `requests`, `invalidate_sessions()`,
    `stop()`."""

    def __init__(self, username: str, password: str) -> None:
        self.state = XapiState(username, password)
        self.requests: list[str] = []
        self._methods = self.state.methods()
        self._server: SimpleXMLRPCServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> XapiStandIn:
        server = SimpleXMLRPCServer(
            ("127.0.0.1", 0), requestHandler=_Handler, allow_none=True, logRequests=False, use_builtin_types=False
        )
        server.register_instance(self)
        server.standin = self  # type: ignore[attr-defined]  # what _Handler.do_GET answers with
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="xapi-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> XapiStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def invalidate_sessions(self) -> None:
        """Forget every session, as a restarted xapi does: the next call with an old reference gets SESSION_INVALID."""
        with self.state.lock:
            self.state.sessions.clear()

    def calls(self, method: str) -> int:
        return sum(1 for m in list(self.requests) if m == method)

    def _authorised(self, query: list[tuple[str, str]], headers: Mapping[str, str] | email.message.Message) -> bool:
        """Xapi_http's check: a session reference in the query or a cookie, else HTTP Basic credentials."""
        state = self.state
        session = next((v for k, v in query if k == "session_id"), None)
        if session is None:
            cookies = [c.strip().partition("=") for c in (headers.get("Cookie") or "").split(";")]
            session = next((v for k, _, v in cookies if k == "session_id"), None)
        if session is not None:
            return session in state.sessions
        scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (state.username, state.password)

    def http_get(self, target: str, headers: Mapping[str, str] | email.message.Message) -> HttpAnswer:
        """What xapi answers a GET on its HTTP interface: `/rrd_updates` only (anything else is not found)."""
        url = urllib.parse.urlsplit(target)
        self.requests.append(f"GET {url.path}")
        if url.path != "/rrd_updates":
            return 404, "Not Found", _CLOSE, b""
        query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        with self.state.lock:
            if not self._authorised(query, headers):
                return (
                    401,
                    "Unauthorised",
                    [("Content-Type", "text/html"), *_CLOSE, ("WWW-Authenticate", 'Basic realm="rrd_updates"')],
                    _UNAUTHORISED,
                )
            if not any(k == "start" for k, _ in query):
                return 400, "Bad Request", _CLOSE, b""
            try:
                updates = self.state.rrd_updates(query, time.time())
            except (rrd.NoRraAvailable, ValueError) as exc:
                extra = "Rrd.No_RRA_Available" if isinstance(exc, rrd.NoRraAvailable) else 'Failure("int_of_string")'
                page = _INTERNAL + extra.encode() + b"</body></html>"
                return 500, "Internal Error", [("Content-Type", "text/html"), *_CLOSE], page
        as_json = rrd.prefers_json(headers.get("Accept"), query)
        body = rrd.to_json(updates) if as_json else rrd.to_xml(updates)
        return (
            200,
            "OK",
            [
                ("Content-Type", "application/json" if as_json else "text/xml"),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Headers", "X-Requested-With"),
            ],
            body,
        )

    # SimpleXMLRPCServer calls this for every method.
    def _dispatch(self, method: str, params: tuple[Any, ...]) -> dict[str, Any]:
        self.requests.append(method)
        state = self.state
        try:
            with state.lock:
                if method == "session.login_with_password":
                    if len(params) < 2 or (params[0], params[1]) != (state.username, state.password):
                        raise XapiFailure(
                            "SESSION_AUTHENTICATION_FAILED", str(params[0] if params else ""), "Authentication failure"
                        )
                    session = _ref()
                    state.sessions.add(session)
                    return {"Status": "Success", "Value": session}
                if not params or params[0] not in state.sessions:
                    raise XapiFailure("SESSION_INVALID", str(params[0]) if params else "")
                if method == "session.logout":
                    state.sessions.discard(params[0])
                    return {"Status": "Success", "Value": ""}
                implementation = self._methods.get(method) or state.field_getter(method)
                if implementation is None:
                    raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
                try:
                    arity = [p for p in inspect.signature(implementation).parameters.values() if p.default is p.empty]
                    if len(arity) != len(params) - 1:
                        # Counted as xapi counts them, the session among them.
                        raise XapiFailure(
                            "MESSAGE_PARAMETER_COUNT_MISMATCH", method, str(len(arity) + 1), str(len(params))
                        )
                    value = implementation(*params[1:])
                finally:
                    if ".get" not in method:
                        for vm in state.objects["VM"]:
                            state.update_allowed_operations(vm)
                return {"Status": "Success", "Value": "" if value is None else value}
        except XapiFailure as failure:
            return {"Status": "Failure", "ErrorDescription": failure.description}


__all__ = ["TEMPLATES", "XapiFailure", "XapiStandIn", "XapiState"]
