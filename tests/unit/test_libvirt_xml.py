"""The domain and volume XML the libvirt adapter writes, and what it reads back from libvirt's XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from adapters.libvirt import _xml

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
META = _xml.InstanceMeta(
    account="acct-1",
    client_token='tok <&> "1"',
    name="web 1 & co",
    image_id="image-debian-12",
    flavor_id="lv.small",
    created_at=datetime(2026, 11, 24, 10, 0, 0, 250000, tzinfo=UTC),
    root_volume=f"clanavi-root-{UUID}",
    zone="host-a",
    tags={"team": "platform", "env": "<prod>"},
)


def _domain() -> str:
    return _xml.domain_xml(
        domain_type="kvm",
        name=f"clanavi-{UUID}",
        uuid=UUID,
        title="web 1\nsecond line",
        vcpus=2,
        ram_mb=2048,
        pool="default",
        root_volume=META.root_volume,
        root_format="qcow2",
        network="default",
        meta=META,
    )


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - XML this test wrote


def _attribute(element: ET.Element, path: str, name: str) -> str | None:
    found = element.find(path)
    assert found is not None, f"no {path}"
    return found.get(name)


def test_a_domain_reads_back_as_defined() -> None:
    facts = _xml.parse_domain(_domain())
    assert (facts.uuid, facts.name, facts.vcpus, facts.memory_kib) == (UUID, f"clanavi-{UUID}", 2, 2048 * 1024)
    assert facts.meta == META, "metadata must survive characters XML escapes"
    [root] = facts.disks
    assert (root.target, root.bus, root.source_pool, root.source_volume) == (
        "vda",
        "virtio",
        "default",
        META.root_volume,
    )
    [nic] = facts.interfaces
    assert nic.network == "default"


def test_the_domain_xml_is_what_libvirt_expects() -> None:
    domain = _parse(_domain())
    assert domain.get("type") == "kvm"
    assert domain.findtext("title") == "web 1 second line", "a title is one line"
    assert domain.find("features/acpi") is not None, "without ACPI a guest never sees the shutdown request"
    assert _attribute(domain, "devices/disk/driver", "type") == "qcow2"
    # Our metadata sits in its own namespace, as libvirt requires of <metadata> children.
    assert domain.find(f"metadata/{{{_xml.NS}}}instance") is not None


def test_a_domain_without_our_metadata_has_none() -> None:
    facts = _xml.parse_domain(
        "<domain type='test'><name>test</name><uuid>" + UUID + "</uuid><memory unit='KiB'>8388608</memory>"
        "<vcpu>2</vcpu><devices><disk type='file' device='disk'><source file='/guest/diskimage1'/>"
        "<target dev='vda' bus='virtio'/></disk><interface type='network'><mac address='aa:bb:cc:dd:ee:ff'/>"
        "<source network='default'/><target dev='testnet0'/></interface></devices></domain>"
    )
    assert facts.meta is None
    assert facts.disks[0].source_file == "/guest/diskimage1"
    assert facts.interfaces[0].target == "testnet0"
    assert facts.memory_kib == 8388608


def test_disks_are_added_and_removed_from_a_definition() -> None:
    disk = _xml.data_disk_xml(pool="default", volume="clanavi-vol-x", target="vdb", fmt=None, serial="vol-x")
    with_disk = _xml.parse_domain(_xml.with_disk(_domain(), disk))
    assert [d.target for d in with_disk.disks] == ["vda", "vdb"]
    added = with_disk.disks[1]
    assert (added.source_volume, added.bus) == ("clanavi-vol-x", "virtio")
    assert with_disk.meta == META, "editing devices keeps the metadata"
    without = _xml.parse_domain(_xml.without_disk(_xml.with_disk(_domain(), disk), "vdb"))
    assert [d.target for d in without.disks] == ["vda"]
    assert without.meta == META


def test_the_bus_follows_the_device_name() -> None:
    assert [_xml.bus_for(t) for t in ("vdb", "sdc", "hdd", "xvdb")] == ["virtio", "scsi", "ide", "xen"]


def test_volumes_in_and_out() -> None:
    spec = _parse(_xml.volume_xml(name="clanavi-vol-x", capacity_bytes=3 * 1024**3, fmt="qcow2"))
    assert spec.findtext("capacity") == str(3 * 1024**3)
    assert _attribute(spec, "target/format", "type") == "qcow2"
    assert _parse(_xml.volume_xml(name="v", capacity_bytes=1, fmt=None)).find("target") is None
    facts = _xml.parse_volume(
        "<volume type='file'><name>v1</name><key>/pool/v1</key><capacity unit='G'>2</capacity>"
        "<target><path>/pool/v1</path><format type='raw'/><timestamps><ctime>1764000000.5</ctime></timestamps>"
        "</target></volume>"
    )
    assert (facts.name, facts.key, facts.path, facts.format) == ("v1", "/pool/v1", "/pool/v1", "raw")
    assert facts.capacity == 2 * 1024**3
    assert facts.changed_at == datetime.fromtimestamp(1764000000.5, UTC)
