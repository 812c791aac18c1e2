"""A libvirt account's settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.libvirt import DEFAULT_FLAVORS, LibvirtConfig


def test_only_the_uri_is_required() -> None:
    config = LibvirtConfig.model_validate({"uri": "qemu:///system"})
    assert (config.pool, config.network, config.image_prefix, config.prefix) == (
        "default",
        "default",
        "image-",
        "clanavi-",
    )
    assert config.flavors == DEFAULT_FLAVORS
    assert config.force_stop_after_timeout


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"uri": "qemu:///system", "colour": "blue"},
        {"uri": "qemu:///system", "image_prefix": "clanavi-img-"},
        {"uri": "qemu:///system", "flavors": []},
        {
            "uri": "qemu:///system",
            "flavors": [
                {"id": "a", "name": "a", "vcpus": 1, "ram_mb": 512, "disk_gb": 1},
                {"id": "a", "name": "b", "vcpus": 2, "ram_mb": 512, "disk_gb": 1},
            ],
        },
        {"uri": "qemu:///system", "flavors": [{"id": "a", "name": "a", "vcpus": 0, "ram_mb": 512, "disk_gb": 1}]},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LibvirtConfig.model_validate(settings)
