"""libvirt XML in and out: the domains, volumes and disks Clanavi defines, and what it reads back from them.

Pure functions over strings; the XML read here comes from our own hypervisor connection.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses only XML that libvirt hands us
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

NS = "https://clanavi.dev/xmlns/libvirt/instance/1"
NS_PREFIX = "clanavi"
_Q = f"{{{NS}}}"
# Serialise our metadata with its own prefix rather than ns0 (a process-wide ElementTree registry).
ET.register_namespace(NS_PREFIX, NS)


@dataclass(frozen=True, slots=True)
class InstanceMeta:
    """What Clanavi keeps inside a domain's <metadata>, in its own namespace."""

    account: str
    client_token: str
    name: str
    image_id: str
    flavor_id: str
    created_at: datetime
    root_volume: str
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Disk:
    target: str
    bus: str | None
    device: str
    source_pool: str | None
    source_volume: str | None
    source_file: str | None
    # The <disk> element as libvirt wrote it, for detaching exactly that device.
    xml: str


@dataclass(frozen=True, slots=True)
class Interface:
    mac: str | None
    network: str | None
    target: str | None


@dataclass(frozen=True, slots=True)
class DomainFacts:
    uuid: str
    name: str
    vcpus: int
    memory_kib: int
    meta: InstanceMeta | None
    disks: tuple[Disk, ...]
    interfaces: tuple[Interface, ...]


@dataclass(frozen=True, slots=True)
class VolumeFacts:
    name: str
    key: str
    path: str | None
    capacity: int
    format: str | None
    # <target><timestamps><ctime> where the pool reports it (file pools do).
    changed_at: datetime | None


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - XML from our own libvirt connection


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _to_string(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


# --- domains ---------------------------------------------------------------------------------------------------


def _meta_element(meta: InstanceMeta) -> ET.Element:
    root = ET.Element(f"{_Q}instance")
    _sub(root, f"{_Q}account", meta.account)
    _sub(root, f"{_Q}client-token", meta.client_token)
    _sub(root, f"{_Q}name", meta.name)
    _sub(root, f"{_Q}image", meta.image_id)
    _sub(root, f"{_Q}flavor", meta.flavor_id)
    _sub(root, f"{_Q}created", meta.created_at.isoformat())
    _sub(root, f"{_Q}root-volume", meta.root_volume)
    if meta.zone is not None:
        _sub(root, f"{_Q}zone", meta.zone)
    tags = _sub(root, f"{_Q}tags")
    for key, value in sorted(meta.tags.items()):
        _sub(tags, f"{_Q}tag", value, key=key)
    return root


def _disk_element(*, pool: str, volume: str, target: str, fmt: str | None, serial: str | None = None) -> ET.Element:
    disk = ET.Element("disk", {"type": "volume", "device": "disk"})
    _sub(disk, "driver", name="qemu", type=fmt or "raw")
    _sub(disk, "source", pool=pool, volume=volume)
    _sub(disk, "target", dev=target, bus=bus_for(target))
    if serial:
        _sub(disk, "serial", serial)
    return disk


def bus_for(target: str) -> str:
    """The bus a guest device name implies: vdX virtio, sdX SCSI, hdX IDE."""
    return {"vd": "virtio", "sd": "scsi", "hd": "ide", "xv": "xen"}.get(target[:2], "virtio")


def domain_xml(
    *,
    domain_type: str,
    name: str,
    uuid: str,
    title: str,
    vcpus: int,
    ram_mb: int,
    pool: str,
    root_volume: str,
    root_format: str | None,
    network: str,
    meta: InstanceMeta,
) -> str:
    domain = ET.Element("domain", {"type": domain_type})
    _sub(domain, "name", name)
    _sub(domain, "uuid", uuid)
    _sub(domain, "title", title.replace("\n", " "))
    metadata = _sub(domain, "metadata")
    metadata.append(_meta_element(meta))
    _sub(domain, "memory", str(ram_mb), unit="MiB")
    _sub(domain, "vcpu", str(vcpus))
    os_element = _sub(domain, "os")
    _sub(os_element, "type", "hvm")
    _sub(os_element, "boot", dev="hd")
    features = _sub(domain, "features")
    # ACPI, so that a shutdown request reaches the guest as a power button press.
    _sub(features, "acpi")
    _sub(features, "apic")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    devices = _sub(domain, "devices")
    devices.append(_disk_element(pool=pool, volume=root_volume, target="vda", fmt=root_format))
    interface = _sub(devices, "interface", type="network")
    _sub(interface, "source", network=network)
    _sub(interface, "model", type="virtio")
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    return _to_string(domain)


def data_disk_xml(*, pool: str, volume: str, target: str, fmt: str | None, serial: str) -> str:
    return _to_string(_disk_element(pool=pool, volume=volume, target=target, fmt=fmt, serial=serial))


def _text(element: ET.Element | None, default: str = "") -> str:
    if element is None or element.text is None:
        return default
    return element.text.strip()


def _meta(domain: ET.Element) -> InstanceMeta | None:
    element = domain.find(f"metadata/{_Q}instance")
    if element is None:
        return None
    try:
        created = datetime.fromisoformat(_text(element.find(f"{_Q}created")))
    except ValueError:
        return None
    zone = element.find(f"{_Q}zone")
    return InstanceMeta(
        account=_text(element.find(f"{_Q}account")),
        client_token=_text(element.find(f"{_Q}client-token")),
        name=_text(element.find(f"{_Q}name")),
        image_id=_text(element.find(f"{_Q}image")),
        flavor_id=_text(element.find(f"{_Q}flavor")),
        created_at=created,
        root_volume=_text(element.find(f"{_Q}root-volume")),
        zone=None if zone is None else _text(zone),
        tags={tag.get("key", ""): tag.text or "" for tag in element.findall(f"{_Q}tags/{_Q}tag")},
    )


def parse_domain(text: str) -> DomainFacts:
    domain = _parse(text)
    disks = []
    for disk in domain.findall("devices/disk"):
        source = disk.find("source")
        target = disk.find("target")
        disks.append(
            Disk(
                target=target.get("dev", "") if target is not None else "",
                bus=target.get("bus") if target is not None else None,
                device=disk.get("device", "disk"),
                source_pool=source.get("pool") if source is not None else None,
                source_volume=source.get("volume") if source is not None else None,
                source_file=(source.get("file") or source.get("dev")) if source is not None else None,
                xml=_to_string(disk).strip(),
            )
        )
    interfaces = []
    for interface in domain.findall("devices/interface"):
        mac = interface.find("mac")
        source = interface.find("source")
        target = interface.find("target")
        interfaces.append(
            Interface(
                mac=mac.get("address") if mac is not None else None,
                network=source.get("network") if source is not None else None,
                target=target.get("dev") if target is not None else None,
            )
        )
    memory = domain.find("memory")
    memory_kib = _to_bytes(_text(memory, "0"), memory.get("unit", "KiB") if memory is not None else "KiB") // 1024
    return DomainFacts(
        uuid=_text(domain.find("uuid")),
        name=_text(domain.find("name")),
        vcpus=int(_text(domain.find("vcpu"), "1")),
        memory_kib=memory_kib,
        meta=_meta(domain),
        disks=tuple(disks),
        interfaces=tuple(interfaces),
    )


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}


def _to_bytes(value: str, unit: str) -> int:
    return int(value) * _UNITS.get(unit.lower(), 1)


def with_disk(domain_text: str, disk_text: str) -> str:
    """The domain definition with one more disk, for hypervisors that cannot attach to a defined domain."""
    domain = _parse(domain_text)
    devices = domain.find("devices")
    if devices is None:
        devices = _sub(domain, "devices")
    devices.append(_parse(disk_text))
    return _to_string(domain)


def without_disk(domain_text: str, target: str) -> str:
    """The domain definition less the disk at `target`."""
    domain = _parse(domain_text)
    devices = domain.find("devices")
    if devices is not None:
        for disk in devices.findall("disk"):
            element = disk.find("target")
            if element is not None and element.get("dev") == target:
                devices.remove(disk)
    return _to_string(domain)


# --- volumes ---------------------------------------------------------------------------------------------------


def volume_xml(*, name: str, capacity_bytes: int, fmt: str | None) -> str:
    volume = ET.Element("volume")
    _sub(volume, "name", name)
    _sub(volume, "capacity", str(capacity_bytes), unit="bytes")
    if fmt:
        target = _sub(volume, "target")
        _sub(target, "format", type=fmt)
    return _to_string(volume)


def parse_volume(text: str) -> VolumeFacts:
    volume = _parse(text)
    capacity = volume.find("capacity")
    fmt = volume.find("target/format")
    ctime = volume.find("target/timestamps/ctime")
    changed = None
    if ctime is not None and ctime.text:
        changed = datetime.fromtimestamp(float(ctime.text), UTC)
    return VolumeFacts(
        name=_text(volume.find("name")),
        key=_text(volume.find("key")),
        path=_text(volume.find("target/path")) or None,
        capacity=_to_bytes(_text(capacity, "0"), capacity.get("unit", "bytes") if capacity is not None else "bytes"),
        format=fmt.get("type") if fmt is not None else None,
        changed_at=changed,
    )
