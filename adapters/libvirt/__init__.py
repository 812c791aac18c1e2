"""libvirt: domains made from images kept as volumes in a storage pool (see `adapter` for what is offered)."""

from adapters.libvirt.adapter import HOTPLUG_TYPES, HotplugLibvirtAdapter, LibvirtAdapter
from adapters.libvirt.config import DEFAULT_FLAVORS, LibvirtConfig

__all__ = [
    "DEFAULT_FLAVORS",
    "HOTPLUG_TYPES",
    "HotplugLibvirtAdapter",
    "LibvirtAdapter",
    "LibvirtConfig",
]
