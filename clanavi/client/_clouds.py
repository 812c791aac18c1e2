"""The project's clouds, their inventory syncs, and the adapter modules (admins)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from clanavi.client._calls import Call, body, items_of, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation, procedure
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._steps import Plan
from clanavi.client._waiting import Progress, wait
from services.provisioner.schemas import (
    CloudCreate,
    CloudOut,
    CloudTestOut,
    CloudUpdate,
    ModuleOut,
    ModuleUpdate,
    RegionOut,
    SyncRunOut,
    ZoneOut,
)

__all__ = ["Clouds", "Modules"]

Body = Mapping[str, Any]


def _status(run: SyncRunOut) -> str:
    return run.status


class Clouds(Namespace[M]):
    """`/v1/clouds`. Adding a cloud, or changing its settings or credentials, tests the connection first: a failed
    test is ValidationFailed (`cloud_connection_failed`, or `cloud_endpoint_denied`), and nothing is stored."""

    @listing
    def list(
        self,
        *,
        driver: str | None = None,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[CloudOut]:
        """The project's clouds, sorted by `created_at` or `name`."""
        filters = query(driver=driver, name=name)
        return Listing("/v1/clouds", page_of(CloudOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, cloud_id: str) -> Call[CloudOut]:
        return Call("GET", path("/v1/clouds/{}", cloud_id), model_of(CloudOut))

    @operation
    def add(self, cloud: CloudCreate | Body, *, idempotency_key: str | None = None) -> Call[CloudOut]:
        """Add a cloud to the project, once its connection test passed."""
        content = body(CloudCreate, cloud)
        return Call("POST", "/v1/clouds", model_of(CloudOut), content=content, idempotency_key=idempotency_key)

    @operation
    def update(self, cloud_id: str, change: CloudUpdate | Body) -> Call[CloudOut]:
        """Change what `change` names; `config` and `credentials` each replace the whole object."""
        return Call("PATCH", path("/v1/clouds/{}", cloud_id), model_of(CloudOut), content=body(CloudUpdate, change))

    @operation
    def remove(self, cloud_id: str, *, force: bool = False) -> Call[None]:
        """Remove a cloud; Conflict (`cloud_in_use`) while Clanavi holds live resources there, unless `force`
        (Clanavi forgets them; the cloud is not touched)."""
        return Call("DELETE", path("/v1/clouds/{}", cloud_id), nothing, query(force=force or None))

    @operation
    def test(self, cloud_id: str, *, idempotency_key: str | None = None) -> Call[CloudTestOut]:
        """Test the stored account's connection again (nothing changes): a test that fails is answered, with `ok`
        false and what went wrong in `code` and `detail`, not raised."""
        route = path("/v1/clouds/{}/test", cloud_id)
        return Call("POST", route, model_of(CloudTestOut), idempotency_key=idempotency_key)

    @operation
    def regions(self, cloud_id: str) -> Call[builtins.list[RegionOut]]:
        return Call("GET", path("/v1/clouds/{}/regions", cloud_id), items_of(RegionOut))

    @operation
    def zones(self, cloud_id: str) -> Call[builtins.list[ZoneOut]]:
        return Call("GET", path("/v1/clouds/{}/zones", cloud_id), items_of(ZoneOut))

    @operation
    def sync(self, cloud_id: str, *, idempotency_key: str | None = None) -> Call[SyncRunOut]:
        """Reconcile Clanavi's records with the cloud, in the background: answers the run (`running`), or the one
        already running."""
        route = path("/v1/clouds/{}/sync", cloud_id)
        return Call("POST", route, model_of(SyncRunOut), idempotency_key=idempotency_key)

    @listing
    def syncs(self, cloud_id: str, *, order: Order | None = None, limit: int | None = None) -> Listing[SyncRunOut]:
        """The cloud's sync runs, newest first (`order="asc"`: oldest first)."""
        route = path("/v1/clouds/{}/syncs", cloud_id)
        return Listing(route, page_of(SyncRunOut), (), query(order=order), limit)

    @operation
    def sync_run(self, cloud_id: str, sync_id: str) -> Call[SyncRunOut]:
        return Call("GET", path("/v1/clouds/{}/syncs/{}", cloud_id, sync_id), model_of(SyncRunOut))

    @procedure
    def wait_for_sync(
        self, cloud_id: str, sync_id: str, *, timeout: float = 600.0, progress: Progress[SyncRunOut] | None = None
    ) -> Plan[SyncRunOut]:
        """Wait until the run has succeeded; raises WaitFailed when it failed, WaitTimeout after `timeout`."""

        def one(run_id: str) -> Call[SyncRunOut]:
            return Call("GET", path("/v1/clouds/{}/syncs/{}", cloud_id, run_id), model_of(SyncRunOut))

        found = yield from wait(
            "sync run", [sync_id], one, _status, ("succeeded",), ("failed",), timeout=timeout, progress=progress
        )
        return found[0]


class Modules(Namespace[M]):
    """The adapter modules (platform admins): built in or plugins, enabled or not, and the clouds using each."""

    @operation
    def list(self) -> Call[builtins.list[ModuleOut]]:
        return Call("GET", "/v1/modules", items_of(ModuleOut))

    @operation
    def get(self, name: str) -> Call[ModuleOut]:
        return Call("GET", path("/v1/modules/{}", name), model_of(ModuleOut))

    @operation
    def enable(self, name: str) -> Call[ModuleOut]:
        return self._set(name, enabled=True)

    @operation
    def disable(self, name: str) -> Call[ModuleOut]:
        """Disable a module at runtime: its clouds answer Conflict (`module_disabled`) to anything that calls them,
        and their pending work waits until it is enabled again."""
        return self._set(name, enabled=False)

    def _set(self, name: str, *, enabled: bool) -> Call[ModuleOut]:
        content = body(ModuleUpdate, ModuleUpdate(enabled=enabled))
        return Call("PUT", path("/v1/modules/{}", name), model_of(ModuleOut), content=content)
