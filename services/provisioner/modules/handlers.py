"""Adapter modules: which adapters this provisioner has (built in, or plugins from the `clanavi.adapters` entry point
group), whether each can be loaded here and what it can do, and enabling or disabling one at runtime. A disabled
module's clouds refuse every operation (409 `module_disabled`); their pending work waits in the database and resumes
once it is enabled. A module that cannot be loaded (a built-in one whose SDK's extra is not installed, a broken
plugin) is listed as unavailable with the reason; it cannot be enabled (409 `module_unavailable`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters import registry
from kernel import events
from kernel.errors import NotFound
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds.directory import MODULES_CHANNEL, CloudDirectory, declared_features
from services.provisioner.modules.repository import ModuleStore
from services.provisioner.work.engine import WORK_CHANNEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModuleView:
    module: registry.Module | None
    name: str
    enabled: bool
    available: bool
    reason: str | None
    features: tuple[str, ...]
    cloud_ids: tuple[str, ...]


def _availability(name: str) -> tuple[bool, str | None]:
    """Whether the module's adapter class loads here, and why not."""
    try:
        registry.adapter_class(name)
    except registry.UnknownDriver:
        return False, "not installed"
    except registry.Unavailable as exc:
        if exc.extra is None:  # a missing extra is a choice of the install; a plugin that breaks is worth its trace
            log.warning("the %s adapter module cannot be loaded", name, exc_info=True)
        return False, exc.reason
    return True, None


async def list_modules(uow: UnitOfWork[ModuleStore], clouds: CloudDirectory) -> list[ModuleView]:
    installed = registry.modules()
    async with uow.reading() as repos:
        every = await repos.clouds.every()
        recorded = await repos.modules.recorded()
    names = list(installed) + sorted(({c.driver for c in every} | set(recorded)) - set(installed))
    views: list[ModuleView] = []
    for name in names:
        available, reason = _availability(name)
        views.append(
            ModuleView(
                module=installed.get(name),
                name=name,
                enabled=clouds.module_enabled(name),
                available=available,
                reason=reason,
                features=tuple(sorted(declared_features(name))) if available else (),
                cloud_ids=tuple(c.id for c in every if c.driver == name),
            )
        )
    return views


async def get_module(uow: UnitOfWork[ModuleStore], clouds: CloudDirectory, name: str) -> ModuleView:
    for view in await list_modules(uow, clouds):
        if view.name == name:
            return view
    raise NotFound(f"Module {name} does not exist.")


async def set_enabled(
    uow: UnitOfWork[ModuleStore],
    clouds: CloudDirectory,
    name: str,
    *,
    enabled: bool,
    correlation_id: str,
) -> ModuleView:
    """Enable or disable a module; its state and the `module.enabled`/`module.disabled` event commit together. The
    event is about the platform, not a project: it goes to the platform scope, which no project's members list.
    Raises ModuleUnavailable (409) to enable a module that cannot be loaded here."""
    view = await get_module(uow, clouds, name)
    if enabled and view.module is not None and not view.available:
        clouds.adapter_class(name)  # raises ModuleUnavailable, saying why
    async with uow.transaction() as tx:
        changed = await tx.repos.modules.set(name, enabled=enabled)
        if changed:
            cloud_ids = await tx.repos.clouds.using_driver(name)
            fact = (events.ModuleEnabled if enabled else events.ModuleDisabled)(module=name, cloud_ids=cloud_ids)
            tx.emit_new(events.PLATFORM_SCOPE, fact, correlation_id=correlation_id)
            # Every replica follows (this one too, at once below): the module's clouds refuse or serve everywhere.
            tx.notify(MODULES_CHANNEL, f"{name}={'enabled' if enabled else 'disabled'}")
            if enabled:
                # Wake the worker: the module's held actions are due again.
                tx.notify(WORK_CHANNEL)
    clouds.set_module(name, enabled=enabled)
    if changed:
        log.info("adapter module %s %s", name, "enabled" if enabled else "disabled")
    return await get_module(uow, clouds, name)


async def disabled_modules(uow: UnitOfWork[ModuleStore]) -> set[str]:
    """The modules an admin disabled: what a provisioner starting now refuses to use."""
    async with uow.reading() as repos:
        return await repos.modules.disabled()


__all__ = ["ModuleView", "disabled_modules", "get_module", "list_modules", "set_enabled"]
