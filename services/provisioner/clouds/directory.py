"""The clouds this provisioner serves: their connected adapters, what each can do, which adapter modules are
disabled or cannot be loaded here, and a short-lived cache of each cloud's catalogue and places (flavors, images,
regions and zones change rarely; checking a launch against the cache spares the cloud's API rate limit).

It reaches any project's cloud by its id: a request first looks the id up in its project (`owned.cloud`), so that
another project's cloud is "does not exist" exactly like an unknown id, and passes only a cloud it owns on here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import ValidationError
from tenacity import wait_fixed

from adapters import registry
from adapters.base import FEATURE_OPERATIONS, CloudAdapter, CloudError, Feature, Flavor, Image, Quotas, Region, Zone
from adapters.registry import AdapterClass, AdapterContext, Unavailable, UnknownDriver
from kernel.caching import LoadingCache
from kernel.crypto import Keyring
from kernel.errors import ClanaviError, Conflict, NotImplementedByCloud
from kernel.networks import Network, parse_networks
from kernel.retry import retrying
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds import credentials
from services.provisioner.clouds.domain import Cloud, Misconfigured
from services.provisioner.clouds.repository import CloudStore
from services.provisioner.errors import ModuleIsDisabled, module_unavailable
from services.provisioner.owned import owned
from services.provisioner.settings import DEFAULT_ENDPOINT_DENY

log = logging.getLogger(__name__)

# Notified (payload: the cloud's id) when a cloud changes or goes: every replica drops its connected adapter.
CLOUDS_CHANNEL = "provisioner_clouds"
# Tells every replica a module an admin enabled or disabled: `<module>=enabled` or `<module>=disabled`.
MODULES_CHANNEL = "provisioner_modules"

# Where clouds added through the API may not point, unless the provisioner's settings say otherwise.
_ENDPOINT_DENY = parse_networks(DEFAULT_ENDPOINT_DENY)

# operation -> the feature that promises it
_OPERATION_FEATURE: dict[str, Feature] = {op: f for f, ops in FEATURE_OPERATIONS.items() for op in ops}

# Connects a new adapter: (cloud id, driver, settings with the credentials) -> the adapter.
Connector = Callable[[str, str, Mapping[str, Any]], Awaitable[CloudAdapter]]


def declared_features(driver: str, config: Mapping[str, Any] | None = None) -> frozenset[Feature]:
    """What a module's adapter class declares, read without connecting: for an account's settings `config`, the
    features of the class that serves such an account (`features_for`). Nothing when the module cannot be loaded
    here."""
    try:
        cls = registry.adapter_class(driver)
    except (UnknownDriver, Unavailable):
        return frozenset()
    return cls.features if config is None else cls.features_for(config)


@dataclass(frozen=True)
class _Catalogue:
    flavors: Mapping[str, Flavor]
    images: Mapping[str, Image]


class CloudDirectory:
    def __init__(
        self,
        uow: UnitOfWork[CloudStore],
        *,
        disabled_modules: Iterable[str] = (),
        context: AdapterContext | None = None,
        connect: Connector | None = None,
        connected: Mapping[str, CloudAdapter] | None = None,
        keyring: Keyring | None = None,
        endpoint_deny: Sequence[Network] = _ENDPOINT_DENY,
        catalogue_ttl: float = 60.0,
        quotas_ttl: float = 10.0,
    ) -> None:
        """`disabled_modules`: the adapter modules an admin disabled (the provisioner reads them at start).
        `context`: what adapters are lent (SimCloud's pool); `connect`: how an adapter is connected (by default
        its module's adapter class connects it, given `context`). `connected`: adapters already connected, by cloud
        id (used as they are, never connected again). `keyring`: opens the clouds' credentials (without it, a cloud
        that has some cannot connect). `endpoint_deny`: networks a cloud added or changed through the API may not
        point at."""
        self._uow = uow
        self._context = context or AdapterContext(pool=None)
        self._connect = connect or self._by_module
        self.keyring = keyring
        self.endpoint_deny = tuple(endpoint_deny)
        self._adapters: dict[str, CloudAdapter] = dict(connected or {})
        self._lock = asyncio.Lock()
        self._catalogues: LoadingCache[str, _Catalogue] = LoadingCache(catalogue_ttl, maxsize=10_000)
        self._places: LoadingCache[str, tuple[Sequence[Region], Sequence[Zone]]] = LoadingCache(
            catalogue_ttl, maxsize=10_000
        )
        # What each cloud reports of its quotas, briefly: placing servers must not ask a cloud each decision.
        self._quotas: LoadingCache[str, Quotas] = LoadingCache(quotas_ttl, maxsize=10_000)
        self._disabled = set(disabled_modules)
        # cloud id -> driver, of the connected adapters
        self._drivers: dict[str, str] = {}
        # driver -> its adapter class, once loaded (a module that could not be loaded is tried again next time)
        self._classes: dict[str, AdapterClass] = {}

    def module_enabled(self, driver: str) -> bool:
        return driver not in self._disabled

    def set_module(self, driver: str, *, enabled: bool) -> None:
        """Call after the change is committed; from now on the module's clouds refuse (or serve) operations."""
        if enabled:
            self._disabled.discard(driver)
        else:
            self._disabled.add(driver)

    def require_module(self, cloud_id: str, driver: str) -> None:
        """Raises ModuleIsDisabled (409) when the adapter module `driver` of cloud `cloud_id` is disabled."""
        if driver in self._disabled:
            raise ModuleIsDisabled(
                f"Cloud {cloud_id} uses the {driver} adapter module, which is disabled; "
                f"nothing was done. Enable the module (PUT /v1/modules/{driver}) to use the cloud again.",
                cloud_id=cloud_id,
                module=driver,
            )

    def adapter_class(self, driver: str, cloud_id: str | None = None) -> AdapterClass:
        """The adapter class of a module; raises ModuleUnavailable (409) when it cannot be loaded here, naming the
        extra that installs what it lacks, or Conflict when no such module is installed."""
        found = self._classes.get(driver)
        if found is not None:
            return found
        try:
            found = registry.adapter_class(driver)
        except UnknownDriver:
            whose = f"Cloud {cloud_id} uses the" if cloud_id else "The"
            raise Conflict(f"{whose} {driver} adapter, which is not installed.") from None
        except Unavailable as exc:
            raise module_unavailable(exc, cloud_id=cloud_id) from None
        self._classes[driver] = found
        return found

    def module_available(self, driver: str) -> bool:
        try:
            self.adapter_class(driver)
        except ClanaviError:
            return False
        return True

    async def cloud(self, cloud_id: str) -> Cloud:
        """The cloud, whichever project's it is; raises NotFound when there is none."""
        async with self._uow.reading() as repos:
            return owned(await repos.clouds.find(cloud_id), "cloud", cloud_id)

    async def features(self, cloud: Cloud) -> frozenset[Feature]:
        """What the cloud's adapter declares. A connected adapter knows best; for a cloud that is disabled or
        unreachable, the class that serves an account of its settings answers (libvirt's, on a host that hot-plugs
        disks, adds that), and nothing for one whose module cannot be loaded here."""
        if cloud.enabled and self.module_enabled(cloud.driver):
            try:
                return (await self.adapter(cloud.id)).features
            except (CloudError, ClanaviError) as exc:
                log.warning("cloud %s: features from its adapter class, connecting failed: %s", cloud.id, exc)
        return declared_features(cloud.driver, cloud.config)

    async def require(self, cloud: Cloud, *operations: str, feature: Feature | None = None) -> None:
        """Refuse an operation of a cloud whose adapter module is disabled (409), or that the cloud's adapter does
        not declare (501), before anything is recorded or called."""
        self.require_module(cloud.id, cloud.driver)
        declared = await self.features(cloud)
        needed = [_OPERATION_FEATURE[op] for op in operations] + ([feature] if feature else [])
        for wanted in needed:
            if wanted not in declared:
                # Nothing is declared of a module that cannot be loaded: say that, not that the cloud lacks it.
                self.adapter_class(cloud.driver, cloud.id)
                raise NotImplementedByCloud(
                    f"Cloud {cloud.id} ({cloud.driver}) does not support {wanted.value.replace('_', ' ')}.",
                    cloud_id=cloud.id,
                    feature=wanted.value,
                )

    async def adapter(self, cloud_id: str) -> CloudAdapter:
        """The connected adapter of an enabled cloud (connected once, then reused); raises ModuleIsDisabled when the
        cloud's adapter module is disabled."""
        cached = self._adapters.get(cloud_id)
        if cached is not None and cloud_id in self._drivers:
            self.require_module(cloud_id, self._drivers[cloud_id])
            return cached
        async with self._lock:
            cloud = await self.cloud(cloud_id)
            self.require_module(cloud_id, cloud.driver)
            if cloud_id in self._adapters:
                return self._adapters[cloud_id]
            if not cloud.enabled:
                raise Conflict(f"Cloud {cloud_id} is disabled.")
            config = {**cloud.config, **credentials.open_credentials(self.keyring, cloud)}
            adapter = await self.connect(cloud_id, cloud.driver, config)
            self._adapters[cloud_id] = adapter
            self._drivers[cloud_id] = cloud.driver
            return adapter

    async def connect(self, cloud_id: str, driver: str, config: Mapping[str, Any]) -> CloudAdapter:
        """A new adapter, not kept (the caller closes it): `config` holds the credentials too. Raises Misconfigured
        (409) when the adapter refuses the settings, ModuleUnavailable (409) when its module cannot be loaded here,
        or Conflict when it is not installed."""
        try:
            return await self._connect(cloud_id, driver, config)
        except ValidationError as exc:
            # Messages only: pydantic keeps the input apart, and the input may be a secret.
            problems = [(".".join(map(str, e["loc"])) or "config", e["msg"]) for e in exc.errors()]
            raise Misconfigured(
                f"Cloud {cloud_id} is misconfigured: " + "; ".join(f"{loc}: {msg}" for loc, msg in problems), problems
            ) from None

    async def _by_module(self, cloud_id: str, driver: str, config: Mapping[str, Any]) -> CloudAdapter:
        return await self.adapter_class(driver, cloud_id).connect(cloud_id, config, self._context)

    async def forget(self, cloud_id: str) -> None:
        """Drop what is kept of a cloud that changed or went: its next use connects with what is stored now."""
        async with self._lock:
            adapter = self._adapters.pop(cloud_id, None)
            self._drivers.pop(cloud_id, None)
        self._catalogues.discard(cloud_id)
        self._places.discard(cloud_id)
        self._quotas.discard(cloud_id)
        if adapter is not None:
            try:
                await adapter.close()
            except Exception as exc:  # noqa: BLE001 - a half-broken client must not fail the change that dropped it
                log.warning("closing the old adapter of cloud %s failed: %s", cloud_id, type(exc).__name__)

    async def follow_changes(self, dsn: str, disabled_modules: Callable[[], Awaitable[Iterable[str]]]) -> None:
        """Follow what any replica changes, as the database tells every provisioner at commit: forget the clouds that
        change or go (`CLOUDS_CHANNEL`), and enable or disable the modules an admin switched (`MODULES_CHANNEL`).
        Runs until cancelled, listening again a second after the connection drops; what changed while nobody
        listened is read again then (`disabled_modules`, the modules disabled now)."""
        missed = False
        while True:
            async for attempt in retrying(
                (OSError, asyncpg.PostgresError), wait=wait_fixed(1.0), log=log, what=f"listener on {CLOUDS_CHANNEL}"
            ):
                with attempt:
                    try:
                        await self._follow_once(dsn, disabled_modules if missed else None)
                    finally:
                        missed = True

    async def _follow_once(self, dsn: str, catch_up: Callable[[], Awaitable[Iterable[str]]] | None) -> None:
        changed: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        conn = await asyncpg.connect(dsn)
        try:

            def heard(_conn: Any, _pid: int, channel: str, payload: object) -> None:
                changed.put_nowait((channel, str(payload)))

            for channel in (CLOUDS_CHANNEL, MODULES_CHANNEL):
                await conn.add_listener(channel, heard)
            conn.add_termination_listener(lambda *_: changed.put_nowait(None))
            if catch_up is not None:
                # Changes made while nobody listened are unknown: reconnect every cloud on its next use.
                self._disabled = set(await catch_up())
                for kept in list(self._adapters):
                    await self.forget(kept)
            while (change := await changed.get()) is not None:
                channel, payload = change
                if channel == MODULES_CHANNEL:
                    module, _, state = payload.partition("=")
                    self.set_module(module, enabled=state == "enabled")
                else:
                    await self.forget(payload)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _catalogue(self, cloud_id: str) -> _Catalogue:
        async def load() -> _Catalogue:
            adapter = await self.adapter(cloud_id)
            flavors, images = await adapter.list_flavors(), await adapter.list_images()
            return _Catalogue({f.id: f for f in flavors}, {i.id: i for i in images})

        return await self._catalogues.get(cloud_id, load)

    async def flavor(self, cloud_id: str, flavor_id: str) -> Flavor:
        """A flavor of the cloud, from the cached catalogue; raises CloudNotFound."""
        found = (await self._catalogue(cloud_id)).flavors.get(flavor_id)
        if found is None:
            return await (await self.adapter(cloud_id)).get_flavor(flavor_id)
        return found

    async def image(self, cloud_id: str, image_id: str) -> Image:
        """An image of the cloud, from the cached catalogue, else asked for (an image made since); CloudNotFound."""
        found = (await self._catalogue(cloud_id)).images.get(image_id)
        if found is None:
            return await (await self.adapter(cloud_id)).get_image(image_id)
        return found

    async def flavors(self, cloud_id: str) -> list[Flavor]:
        """The cloud's flavors, from the cached catalogue."""
        return list((await self._catalogue(cloud_id)).flavors.values())

    async def images(self, cloud_id: str) -> list[Image]:
        """The cloud's images, from the cached catalogue."""
        return list((await self._catalogue(cloud_id)).images.values())

    async def _where(self, cloud_id: str) -> tuple[Sequence[Region], Sequence[Zone]]:
        async def load() -> tuple[Sequence[Region], Sequence[Zone]]:
            adapter = await self.adapter(cloud_id)
            return await adapter.list_regions(), await adapter.list_zones()

        return await self._places.get(cloud_id, load)

    async def regions(self, cloud_id: str) -> Sequence[Region]:
        return (await self._where(cloud_id))[0]

    async def zones(self, cloud_id: str) -> Sequence[Zone]:
        return (await self._where(cloud_id))[1]

    async def quotas(self, cloud_id: str) -> Quotas:
        """What the cloud reports of its limits and their use, read again after a few seconds; UnsupportedOperation
        for a cloud that reports none."""

        async def load() -> Quotas:
            return await (await self.adapter(cloud_id)).quotas()

        return await self._quotas.get(cloud_id, load)

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()


__all__ = ["CLOUDS_CHANNEL", "CloudDirectory", "Connector", "declared_features"]
