"""Adapter modules: which adapters this provisioner has (built in, or plugins from the `clanavi.adapters` entry point
group), what each can do, and enabling or disabling one at runtime. A disabled module's cloud accounts refuse every
operation (409 `module_disabled`); their pending work waits in the database and resumes once it is enabled."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters import registry
from kernel import outbox
from kernel.db import Pool
from kernel.errors import NotFound
from kernel.events import ModuleDisabled, ModuleEnabled, new_event
from services.provisioner import repository
from services.provisioner.clouds import CloudDirectory, driver_features

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
    """Whether the module's factory imports here, and why not."""
    try:
        registry.load(name)
    except registry.UnknownDriver:
        return False, "not installed"
    except Exception as exc:  # noqa: BLE001 - a broken plugin is listed as unavailable, never crashes the service
        log.warning("the %s adapter module cannot be loaded", name, exc_info=True)
        return False, f"{type(exc).__name__}: {exc}"
    return True, None


async def list_modules(pool: Pool, clouds: CloudDirectory) -> list[ModuleView]:
    installed = registry.modules()
    accounts = await repository.list_clouds(pool)
    recorded = await repository.recorded_modules(pool)
    names = list(installed) + sorted(({a.driver for a in accounts} | set(recorded)) - set(installed))
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
                features=tuple(sorted(driver_features(name))) if available else (),
                cloud_ids=tuple(a.id for a in accounts if a.driver == name),
            )
        )
    return views


async def get_module(pool: Pool, clouds: CloudDirectory, name: str) -> ModuleView:
    for view in await list_modules(pool, clouds):
        if view.name == name:
            return view
    raise NotFound(f"Module {name} does not exist.")


async def set_enabled(
    pool: Pool, clouds: CloudDirectory, name: str, *, enabled: bool, project_id: str, correlation_id: str
) -> ModuleView:
    """Enable or disable a module; its state and the `module.enabled`/`module.disabled` event commit together."""
    await get_module(pool, clouds, name)
    async with pool.acquire() as conn, conn.transaction():
        changed = await repository.set_module(conn, name, enabled=enabled)
        if changed:
            cloud_ids = await repository.clouds_using(conn, name)
            payload = (ModuleEnabled if enabled else ModuleDisabled)(module=name, cloud_ids=cloud_ids)
            await outbox.add(conn, new_event(payload, project_id=project_id, correlation_id=correlation_id))
            if enabled:
                # Wake the worker: the module's held actions are due again.
                await conn.execute(f"NOTIFY {repository.WORK_CHANNEL}")
    clouds.set_module(name, enabled=enabled)
    if changed:
        log.info("adapter module %s %s", name, "enabled" if enabled else "disabled")
    return await get_module(pool, clouds, name)


__all__ = ["ModuleView", "get_module", "list_modules", "set_enabled"]
