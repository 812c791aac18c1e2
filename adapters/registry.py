"""The adapters this platform knows, each a driver name for an adapter class, imported only when an account or a
listing needs it: the built-in ones (`DRIVERS`) and third-party ones installed as Python distributions declaring a
`clanavi.adapters` entry point ("module:Class").

A built-in adapter whose cloud SDK is an optional extra of the package (`clanavi[xen]`...) that is not installed is
known but unavailable: `adapter_class` raises `Unavailable` naming the extra, and nothing else is affected."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel

from adapters.base import AdapterContext, CloudAdapter, Feature

log = logging.getLogger(__name__)


class AdapterClass(Protocol):
    """An adapter class, as the registry hands it out: what it declares is read without connecting (see
    `adapters.base.AdapterBase`, which gives every member but `features` a default)."""

    @property
    def features(self) -> frozenset[Feature]: ...
    @property
    def config_model(self) -> type[BaseModel]: ...
    @property
    def secret_fields(self) -> frozenset[str]: ...
    def features_for(self, config: Mapping[str, Any], /) -> frozenset[Feature]: ...
    def connect(
        self, account_id: str, config: Mapping[str, Any], context: AdapterContext, /
    ) -> Awaitable[CloudAdapter]: ...


@dataclass(frozen=True)
class Builtin:
    # "module:Class"
    target: str
    # The extra of the `clanavi` package that installs the adapter's SDK; None for an adapter that needs none.
    extra: str | None = None


DRIVERS: dict[str, Builtin] = {
    "simcloud": Builtin("adapters.simcloud.adapter:SimCloudAdapter"),
    "ec2": Builtin("adapters.ec2.adapter:Ec2Adapter", extra="ec2"),
    "libvirt": Builtin("adapters.libvirt.adapter:LibvirtAdapter", extra="libvirt"),
    "xcp": Builtin("adapters.xcp.adapter:XcpAdapter", extra="xen"),
    "openstack": Builtin("adapters.openstack.adapter:OpenStackAdapter", extra="openstack"),
}

ENTRY_POINT_GROUP = "clanavi.adapters"
# Packages of this project: a module of theirs that cannot be found is a broken install, not a missing extra.
_OWN_PACKAGES = frozenset({"adapters", "kernel", "services"})


class UnknownDriver(LookupError):
    pass


class Unavailable(Exception):
    """A known adapter that cannot be loaded in this process. `reason` says why, for an admin; `extra` is the
    `clanavi` extra whose absence is the reason, if that is it."""

    def __init__(self, driver: str, reason: str, *, extra: str | None = None) -> None:
        super().__init__(f"the {driver} adapter cannot be loaded: {reason}")
        self.driver = driver
        self.reason = reason
        self.extra = extra


@dataclass(frozen=True)
class Module:
    """An adapter this platform can use: a built-in one (in `DRIVERS`) or a plugin (an entry point of an installed
    distribution in the `clanavi.adapters` group, whose value is "module:Class")."""

    name: str
    target: str
    source: Literal["builtin", "plugin"]
    distribution: str | None = None
    version: str | None = None
    extra: str | None = None


def _builtin(name: str) -> Module:
    found = DRIVERS[name]
    return Module(name=name, target=found.target, source="builtin", extra=found.extra)


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
    known = {name: _builtin(name) for name in DRIVERS}
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
        return _builtin(driver)
    found = modules().get(driver)
    if found is None:
        raise UnknownDriver(driver)
    return found


def _missing_extra(found: Module, exc: ModuleNotFoundError) -> bool:
    missing = (exc.name or "").partition(".")[0]
    return found.extra is not None and bool(missing) and missing not in _OWN_PACKAGES


def adapter_class(driver: str) -> AdapterClass:
    """The driver's adapter class, its module imported now. Raises UnknownDriver, or Unavailable saying why it cannot
    be loaded (an extra not installed, a plugin that fails to import or names no adapter class)."""
    found = module(driver)
    module_name, _, attr = found.target.partition(":")
    try:
        loaded: object = getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        if _missing_extra(found, exc):
            raise Unavailable(driver, f"needs the clanavi[{found.extra}] extra: {exc}", extra=found.extra) from exc
        raise Unavailable(driver, f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a broken plugin is unavailable, never a crash of the platform
        raise Unavailable(driver, f"{type(exc).__name__}: {exc}") from exc
    if not inspect.isclass(loaded) or not isinstance(getattr(loaded, "features", None), frozenset):
        raise Unavailable(
            driver,
            f"{found.target} is not an adapter class (a class with `features`); the {ENTRY_POINT_GROUP} entry point "
            "names the class (module:Class), not a function",
        )
    lacking = [name for name in ("connect", "features_for") if not callable(getattr(loaded, name, None))]
    lacking += [name for name in ("secret_fields",) if not isinstance(getattr(loaded, name, None), frozenset)]
    if not isinstance(getattr(loaded, "config_model", None), type):
        lacking.append("config_model")
    if lacking:
        raise Unavailable(
            driver,
            f"{found.target} lacks {', '.join(lacking)}: an adapter class derives from adapters.base.AdapterBase",
        )
    # Checked member by member above.
    return cast(AdapterClass, loaded)


async def connect(driver: str, account_id: str, config: Mapping[str, Any], context: AdapterContext) -> CloudAdapter:
    """One account's adapter; raises UnknownDriver, Unavailable, or what the adapter's `connect` raises."""
    return await adapter_class(driver).connect(account_id, config, context)


__all__ = [
    "DRIVERS",
    "ENTRY_POINT_GROUP",
    "AdapterClass",
    "AdapterContext",
    "Builtin",
    "Module",
    "Unavailable",
    "UnknownDriver",
    "adapter_class",
    "connect",
    "module",
    "modules",
]
