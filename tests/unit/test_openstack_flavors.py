"""Which catalogue flavor a server runs, whether Nova names it by id (up to 2.46) or embeds it (2.47 and later), in
Nova's JSON or in openstacksdk's Server resource."""

from __future__ import annotations

from typing import Any

import pytest
from openstack.compute.v2.server import Server

from adapters.openstack import _mapping
from tests.contract.clouds.openstack import SDK_WARNING_FILTERS

pytestmark = [pytest.mark.filterwarnings(f) for f in SDK_WARNING_FILTERS]


def _flavor(flavor_id: str, name: str, vcpus: int, ram: int, disk: int, **more: Any) -> dict[str, Any]:
    """A flavor as `GET /flavors/detail` answers at 2.61."""
    return {
        "id": flavor_id,
        "name": name,
        "vcpus": vcpus,
        "ram": ram,
        "disk": disk,
        "swap": more.get("swap", ""),
        "OS-FLV-EXT-DATA:ephemeral": more.get("ephemeral", 0),
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0,
        "extra_specs": more.get("extra_specs", {}),
        "links": [],
    }


def _embedded(name: str, vcpus: int, ram: int, disk: int, **more: Any) -> dict[str, Any]:
    """A server's flavor as Nova embeds it from 2.47 (schemas/servers.py's _server_response_v247)."""
    return {
        "vcpus": vcpus,
        "ram": ram,
        "disk": disk,
        "ephemeral": more.get("ephemeral", 0),
        "swap": more.get("swap", 0),
        "original_name": name,
        "extra_specs": more.get("extra_specs", {}),
    }


CATALOGUE = _mapping.FlavorCatalogue.of(
    [
        _flavor("1", "m1.tiny", 1, 512, 1),
        _flavor("2", "m1.small", 1, 2048, 20),
        _flavor("7", "gpu.a", 8, 16384, 80, extra_specs={"resources:VGPU": "1"}),
        _flavor("8", "cpu.a", 8, 16384, 80),
        _flavor("9", "swap.a", 2, 4096, 40, swap=1024, ephemeral=10),
    ]
)


def _server(flavor: dict[str, Any]) -> dict[str, Any]:
    return {"id": "s", "name": "vm", "status": "ACTIVE", "flavor": flavor, "image": "", "created": "2026-01-01T00:00Z"}


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        ({"id": "2", "links": []}, "2"),  # up to 2.46
        (_embedded("m1.small", 1, 2048, 20), "2"),  # by name, the sizes agree
        (_embedded("m1.small.old", 1, 2048, 20), "2"),  # renamed (deleted and made again): by its sizes
        (_embedded("swap.a", 2, 4096, 40, swap=1024, ephemeral=10), "9"),
        (_embedded("m1.small", 2, 2048, 20), "m1.small"),  # that name now has other sizes, none has these
        (_embedded("old.gpu", 8, 16384, 80, extra_specs={"resources:VGPU": "1"}), "7"),  # same sizes, extra specs tell
        (_embedded("old.big", 8, 16384, 80, extra_specs={"hw:cpu_policy": "dedicated"}), "old.big"),  # ambiguous
    ],
)
def test_a_servers_flavor_is_found_in_the_catalogue(flavor: dict[str, Any], expected: str) -> None:
    assert _mapping.to_instance(_server(flavor), flavors=CATALOGUE).flavor_id == expected
    # openstacksdk's Server resource reads the same answer to the same id.
    resource = Server.existing(**_server(flavor))
    assert _mapping.to_instance(resource, flavors=CATALOGUE).flavor_id == expected


def test_without_a_catalogue_an_embedded_flavor_is_known_by_its_name() -> None:
    instance = _mapping.to_instance(_server(_embedded("m1.small", 1, 2048, 20)))
    assert instance.flavor_id == "m1.small"
    assert instance.image_id == "" and instance.extra["boot_from_volume"] is True


def test_an_embedded_flavor_not_in_the_catalogue_keeps_its_sizes() -> None:
    flavor = CATALOGUE.flavor_of(_embedded("gone", 3, 3072, 30, ephemeral=5, swap=512))
    assert (flavor.id, flavor.name, flavor.vcpus, flavor.ram_mb, flavor.disk_gb) == ("gone", "gone", 3, 3072, 30)
    assert (flavor.extra["ephemeral_gb"], flavor.extra["swap_mb"], flavor.extra["catalogued"]) == (5, 512, False)


def test_the_catalogue_says_which_names_it_was_read_for() -> None:
    read = _mapping.FlavorCatalogue.of([_flavor("2", "m1.small", 1, 2048, 20)], asked=["m1.small", "gone"])
    assert read.knows("m1.small") and read.knows("gone"), "asked for and absent: reading again would not help"
    assert not read.knows("new.flavor")
    assert _mapping.embedded_name({"id": "2", "links": []}) is None
    assert _mapping.embedded_name(_embedded("m1.small", 1, 2048, 20)) == "m1.small"
