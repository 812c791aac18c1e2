"""The cloud accounts this provisioner serves, their connected adapters, what each can do, and a short-lived cache of
each cloud's catalogue (flavors and images change rarely; checking a launch against the cache spares the cloud's
API rate limit).

It reaches any project's account by its id: a request first looks the id up in its project (`owned.cloud`), so that
another project's account is "does not exist" exactly like an unknown id, and passes only an id it owns on here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import ValidationError

from adapters import registry
from adapters.base import (
    FEATURE_OPERATIONS,
    CloudAdapter,
    CloudError,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Region,
    Zone,
)
from adapters.registry import AdapterContext, UnknownDriver, factory
from kernel.crypto import Keyring
from kernel.db import Pool
from kernel.errors import ClanaviError, Conflict, NotFound, NotImplementedByCloud
from kernel.networks import Network, parse_networks
from services.provisioner import accounts, repository
from services.provisioner.errors import ModuleDisabled
from services.provisioner.repository import CloudAccount
from services.provisioner.settings import DEFAULT_ENDPOINT_DENY

log = logging.getLogger(__name__)

# Where accounts added through the API may not point, unless the provisioner's settings say otherwise.
_ENDPOINT_DENY = parse_networks(DEFAULT_ENDPOINT_DENY)

# operation -> the feature that promises it
_OPERATION_FEATURE: dict[str, Feature] = {op: f for f, ops in FEATURE_OPERATIONS.items() for op in ops}


def adapter_class(driver: str) -> type[CloudAdapter] | None:
    """The adapter class a driver's factory returns, read from its annotation without connecting anything.

    None when the driver is unknown, its module cannot be imported here, or its factory does not name its class.
    """
    try:
        connect = registry.load(driver)
    except UnknownDriver:
        return None
    except Exception:  # noqa: BLE001 - an adapter that cannot load here simply declares nothing
        log.warning("the %s adapter cannot be loaded in this process", driver, exc_info=True)
        return None
    returned: Any = inspect.signature(connect).return_annotation
    if isinstance(returned, str):
        # `from __future__ import annotations`: the annotation names a class of the factory's module.
        returned = getattr(connect, "__globals__", {}).get(returned)
    if inspect.isclass(returned) and isinstance(getattr(returned, "features", None), frozenset):
        return typing.cast("type[CloudAdapter]", returned)
    return None


def driver_features(driver: str) -> frozenset[Feature]:
    cls = adapter_class(driver)
    return cls.features if cls is not None else frozenset()


@dataclass
class _Catalogue:
    flavors: dict[str, Flavor]
    images: dict[str, Image]
    fetched_at: float


class CloudDirectory:
    def __init__(
        self,
        pool: Pool,
        *,
        catalogue_ttl: float = 60.0,
        connected: Mapping[str, CloudAdapter] | None = None,
        keyring: Keyring | None = None,
        endpoint_deny: Sequence[Network] = _ENDPOINT_DENY,
    ) -> None:
        """`connected`: adapters already connected, by account id (used as they are, never connected again).
        `keyring`: opens the accounts' credentials (without it, an account that has some cannot connect).
        `endpoint_deny`: networks an account added or changed through the API may not point at."""
        self._pool = pool
        self.keyring = keyring
        self.endpoint_deny = tuple(endpoint_deny)
        self._adapters: dict[str, CloudAdapter] = dict(connected or {})
        self._lock = asyncio.Lock()
        self._catalogues: dict[str, _Catalogue] = {}
        self._catalogue_ttl = catalogue_ttl
        self._zones: dict[str, tuple[float, Sequence[Region], Sequence[Zone]]] = {}
        # Adapter modules an admin disabled (kept in the database; `load_modules` reads them at start).
        self._disabled: set[str] = set()
        # account id -> driver, of the connected adapters
        self._drivers: dict[str, str] = {}

    async def load_modules(self) -> None:
        self._disabled = await repository.disabled_modules(self._pool)

    def module_enabled(self, driver: str) -> bool:
        return driver not in self._disabled

    def set_module(self, driver: str, *, enabled: bool) -> None:
        """Call after the change is committed; from now on the module's accounts refuse (or serve) operations."""
        if enabled:
            self._disabled.discard(driver)
        else:
            self._disabled.add(driver)

    def check_module(self, cloud_id: str, driver: str) -> None:
        """Raises ModuleDisabled (409) when the adapter module `driver` is disabled."""
        self._check_module(cloud_id, driver)

    def _check_module(self, cloud_id: str, driver: str) -> None:
        if driver in self._disabled:
            raise ModuleDisabled(
                f"Cloud {cloud_id} uses the {driver} adapter module, which is disabled; "
                f"nothing was done. Enable the module (PUT /v1/modules/{driver}) to use the cloud again.",
                cloud_id=cloud_id,
                module=driver,
            )

    async def check_enabled(self, cloud_id: str) -> CloudAccount:
        """The account, when its adapter module is enabled; raises ModuleDisabled (409) otherwise."""
        account = await self.account(cloud_id)
        self._check_module(cloud_id, account.driver)
        return account

    async def account(self, cloud_id: str) -> CloudAccount:
        """The account, whichever project's it is; raises NotFound when there is none."""
        account = await repository.get_cloud(self._pool, cloud_id)
        if account is None:
            raise NotFound(f"Cloud {cloud_id} does not exist.")
        return account

    async def features(self, cloud_id: str) -> frozenset[Feature]:
        """What the account's adapter declares. A connected adapter knows best (libvirt on a QEMU host adds
        hot-plugging to what its class declares); the class answers for accounts that are disabled or unreachable."""
        account = await self.account(cloud_id)
        if account.enabled and self.module_enabled(account.driver):
            try:
                return (await self.adapter(cloud_id)).features
            except (CloudError, ClanaviError) as exc:
                log.warning("cloud %s: features from its adapter class, connecting failed: %s", cloud_id, exc)
        return driver_features(account.driver)

    async def require(self, cloud_id: str, *operations: str, feature: Feature | None = None) -> None:
        """Refuse an operation of an account whose adapter module is disabled (409), or that the cloud's adapter
        does not declare (501), before anything is recorded or called; NotFound as `account`."""
        account = await self.check_enabled(cloud_id)
        declared = await self.features(cloud_id)
        needed = [_OPERATION_FEATURE[op] for op in operations] + ([feature] if feature else [])
        for wanted in needed:
            if wanted not in declared:
                raise NotImplementedByCloud(
                    f"Cloud {cloud_id} ({account.driver}) does not support {wanted.value.replace('_', ' ')}.",
                    cloud_id=cloud_id,
                    feature=wanted.value,
                )

    async def adapter(self, cloud_id: str) -> CloudAdapter:
        """The connected adapter of an enabled account (connected once, then reused); raises ModuleDisabled when the
        account's adapter module is disabled."""
        cached = self._adapters.get(cloud_id)
        if cached is not None and cloud_id in self._drivers:
            self._check_module(cloud_id, self._drivers[cloud_id])
            return cached
        async with self._lock:
            account = await self.account(cloud_id)
            self._check_module(cloud_id, account.driver)
            if cloud_id in self._adapters:
                return self._adapters[cloud_id]
            if not account.enabled:
                raise Conflict(f"Cloud {cloud_id} is disabled.")
            config = {**account.config, **accounts.open_credentials(self.keyring, account)}
            adapter = await self.connect(cloud_id, account.driver, config)
            self._adapters[cloud_id] = adapter
            self._drivers[cloud_id] = account.driver
            return adapter

    async def connect(self, cloud_id: str, driver: str, config: Mapping[str, Any]) -> CloudAdapter:
        """A new adapter, not kept (the caller closes it): `config` holds the credentials too. Raises Misconfigured
        (409) when the adapter refuses the settings, or Conflict when it is not installed."""
        try:
            connect = factory(driver)
        except UnknownDriver:
            raise Conflict(f"Cloud {cloud_id} uses the {driver} adapter, which is not installed.") from None
        try:
            return await connect(cloud_id, config, AdapterContext(pool=self._pool))
        except ValidationError as exc:
            # Messages only: pydantic keeps the input apart, and the input may be a secret.
            problems = [(".".join(map(str, e["loc"])) or "config", e["msg"]) for e in exc.errors()]
            raise accounts.Misconfigured(
                f"Cloud {cloud_id} is misconfigured: " + "; ".join(f"{loc}: {msg}" for loc, msg in problems), problems
            ) from None

    async def forget(self, cloud_id: str) -> None:
        """Drop what is kept of an account that changed or went: its next use connects with what is stored now."""
        async with self._lock:
            adapter = self._adapters.pop(cloud_id, None)
            self._drivers.pop(cloud_id, None)
        self._catalogues.pop(cloud_id, None)
        self._zones.pop(cloud_id, None)
        if adapter is not None:
            try:
                await adapter.close()
            except Exception as exc:  # noqa: BLE001 - a half-broken client must not fail the change that dropped it
                log.warning("closing the old adapter of cloud %s failed: %s", cloud_id, type(exc).__name__)

    async def follow_changes(self, dsn: str) -> None:
        """Forget the accounts that change or go (in any replica), as `repository.CLOUDS_CHANNEL` tells; runs until
        cancelled, reconnecting when the connection drops."""
        lost = False
        while True:
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            changed: asyncio.Queue[str | None] = asyncio.Queue()
            try:
                conn = await asyncpg.connect(dsn)
                await conn.add_listener(repository.CLOUDS_CHANNEL, lambda *args, q=changed: q.put_nowait(str(args[-1])))
                conn.add_termination_listener(lambda *_, q=changed: q.put_nowait(None))
                if lost:
                    # Changes made while nobody listened are unknown: reconnect every account on its next use.
                    for kept in list(self._adapters):
                        await self.forget(kept)
                while (cloud_id := await changed.get()) is not None:
                    await self.forget(cloud_id)
                lost = True
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listener on %s lost its connection: %s", repository.CLOUDS_CHANNEL, exc)
                lost = True
                await asyncio.sleep(1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)

    async def _catalogue(self, cloud_id: str, *, refresh: bool = False) -> _Catalogue:
        cached = self._catalogues.get(cloud_id)
        if cached is not None and not refresh and time.monotonic() - cached.fetched_at < self._catalogue_ttl:
            return cached
        adapter = await self.adapter(cloud_id)
        flavors: Sequence[Flavor] = await adapter.list_flavors()
        images: Sequence[Image] = await adapter.list_images()
        fresh = _Catalogue({f.id: f for f in flavors}, {i.id: i for i in images}, time.monotonic())
        self._catalogues[cloud_id] = fresh
        return fresh

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
            found = await (await self.adapter(cloud_id)).get_image(image_id)
        return found

    async def _places(self, cloud_id: str) -> tuple[Sequence[Region], Sequence[Zone]]:
        cached = self._zones.get(cloud_id)
        if cached is not None and time.monotonic() - cached[0] < self._catalogue_ttl:
            return cached[1], cached[2]
        adapter = await self.adapter(cloud_id)
        regions, zones = await adapter.list_regions(), await adapter.list_zones()
        self._zones[cloud_id] = (time.monotonic(), regions, zones)
        return regions, zones

    async def regions(self, cloud_id: str) -> Sequence[Region]:
        return (await self._places(cloud_id))[0]

    async def zones(self, cloud_id: str) -> Sequence[Zone]:
        return (await self._places(cloud_id))[1]

    def forget_catalogue(self, cloud_id: str) -> None:
        self._catalogues.pop(cloud_id, None)

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()


__all__ = ["CloudDirectory", "CloudNotFound", "adapter_class", "driver_features"]
