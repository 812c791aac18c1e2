"""The adapters this platform knows, imported only when a cloud account needs one: the built-in ones (`DRIVERS`) and
third-party ones installed as Python distributions declaring a `clanavi.adapters` entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from adapters.base import CloudAdapter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterContext:
    """What the platform lends an adapter: a database pool for adapters that keep state (SimCloud)."""

    pool: Any


AdapterFactory = Callable[[str, Mapping[str, Any], AdapterContext], Awaitable[CloudAdapter]]

# driver name -> "module:factory"; the factory is `async def connect(account_id, config, context)`.
DRIVERS: dict[str, str] = {
    "simcloud": "adapters.simcloud:connect",
    "ec2": "adapters.ec2:connect",
    "libvirt": "adapters.libvirt:connect",
    "xcp": "adapters.xcp:connect",
    "openstack": "adapters.openstack:connect",
}


class UnknownDriver(LookupError):
    pass


ENTRY_POINT_GROUP = "clanavi.adapters"


@dataclass(frozen=True)
class Module:
    """An adapter this platform can use: a built-in one (in `DRIVERS`) or a plugin (an entry point of an installed
    distribution in the `clanavi.adapters` group, whose value is "module:connect")."""

    name: str
    target: str
    source: Literal["builtin", "plugin"]
    distribution: str | None = None
    version: str | None = None


def _plugins() -> list[Module]:
    """The adapters installed distributions declare. Unreadable metadata is logged and skipped."""
    found: list[Module] = []
    try:
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 - broken metadata of some distribution must not stop the platform
        log.exception("could not read the %s entry points", ENTRY_POINT_GROUP)
        return found
    for point in points:
        dist = point.dist
        found.append(
            Module(
                name=point.name,
                target=point.value,
                source="plugin",
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    return found


def modules() -> dict[str, Module]:
    """Every adapter by name: the built-in ones, then plugins (a plugin never replaces a built-in adapter)."""
    known = {name: Module(name=name, target=target, source="builtin") for name, target in DRIVERS.items()}
    for plugin in _plugins():
        if plugin.name in known:
            log.warning(
                "the %s adapter of %s is ignored: %s names a %s adapter already",
                plugin.name,
                plugin.distribution,
                plugin.name,
                known[plugin.name].source,
            )
            continue
        known[plugin.name] = plugin
    return known


def module(driver: str) -> Module:
    """The module of a driver; raises UnknownDriver."""
    if driver in DRIVERS:
        return Module(name=driver, target=DRIVERS[driver], source="builtin")
    found = modules().get(driver)
    if found is None:
        raise UnknownDriver(driver)
    return found


def load(driver: str) -> Any:
    """The driver's factory, imported now; raises UnknownDriver, or whatever importing the module raises."""
    module_name, _, attr = module(driver).target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def factory(driver: str) -> AdapterFactory:
    connect: AdapterFactory = load(driver)
    return connect
