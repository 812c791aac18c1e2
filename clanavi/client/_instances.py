"""Instances: launch, list, act on them, read their console and metrics, and wait for their states."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from clanavi.client._calls import Call, body, model_of, page_of, path, query, text
from clanavi.client._endpoints import M, Namespace, listing, operation, procedure
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._steps import Plan
from clanavi.client._waiting import Progress, states, wait
from services.provisioner.guardrails.schemas import ExtendIn
from services.provisioner.schemas import (
    InstanceCreate,
    InstanceOut,
    InstanceStateName,
    LaunchedOut,
    LaunchPreviewOut,
    MetricsOut,
)

__all__ = ["Instances"]

Action = Literal["start", "stop", "reboot", "suspend", "resume"]
# States an instance does not leave for another (but `error`, left by terminating it).
ENDED = frozenset({"error", "terminated", "gone", "rejected"})


def _one(instance_id: str) -> Call[InstanceOut]:
    return Call("GET", path("/v1/instances/{}", instance_id), model_of(InstanceOut))


def _act(instance_id: str, action: Action, idempotency_key: str | None) -> Call[InstanceOut]:
    route = path("/v1/instances/{}/actions/{}", instance_id, action)
    return Call("POST", route, model_of(InstanceOut), idempotency_key=idempotency_key)


def _state(instance: InstanceOut) -> str:
    return instance.state


class Instances(Namespace[M]):
    """`/v1/instances`: each action answers at once (202) with the instance on its way; `wait_for` follows it."""

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: InstanceStateName | Collection[InstanceStateName] | None = None,
        name: str | None = None,
        discovered: bool | None = None,
        cluster_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[InstanceOut]:
        """The project's instances (a cluster's members, with `cluster_id`), filtered (several states match any of
        them), sorted by `sort` (`created_at`, `updated_at`, `name`, `state`) in `order`, `limit` to a page."""
        filters = query(cloud_id=cloud_id, state=state, name=name, discovered=discovered, cluster_id=cluster_id)
        return Listing("/v1/instances", page_of(InstanceOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, instance_id: str) -> Call[InstanceOut]:
        """One instance: its `state`, `pending_action`, `reason` when something failed."""
        return _one(instance_id)

    @operation
    def launch(
        self, instance: InstanceCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Call[LaunchedOut]:
        """Launch an instance; it answers in state `requested`, or `awaiting_approval` with its `approval` when it
        costs more a month than the project's approval threshold."""
        content = body(InstanceCreate, instance)
        return Call("POST", "/v1/instances", model_of(LaunchedOut), content=content, idempotency_key=idempotency_key)

    @operation
    def preview(self, instance: InstanceCreate | Mapping[str, Any]) -> Call[LaunchPreviewOut]:
        """Check a launch as `launch` does and answer where it would go and its hourly and monthly cost; nothing is
        launched."""
        asked = instance if isinstance(instance, InstanceCreate) else InstanceCreate.model_validate(instance)
        content = body(InstanceCreate, asked.model_copy(update={"dry_run": True}))
        return Call("POST", "/v1/instances", model_of(LaunchPreviewOut), content=content)

    @operation
    def start(self, instance_id: str, *, idempotency_key: str | None = None) -> Call[InstanceOut]:
        return _act(instance_id, "start", idempotency_key)

    @operation
    def stop(self, instance_id: str, *, idempotency_key: str | None = None) -> Call[InstanceOut]:
        return _act(instance_id, "stop", idempotency_key)

    @operation
    def reboot(self, instance_id: str, *, idempotency_key: str | None = None) -> Call[InstanceOut]:
        return _act(instance_id, "reboot", idempotency_key)

    @operation
    def suspend(self, instance_id: str, *, idempotency_key: str | None = None) -> Call[InstanceOut]:
        return _act(instance_id, "suspend", idempotency_key)

    @operation
    def resume(self, instance_id: str, *, idempotency_key: str | None = None) -> Call[InstanceOut]:
        return _act(instance_id, "resume", idempotency_key)

    @operation
    def terminate(self, instance_id: str) -> Call[InstanceOut]:
        """Terminate an instance; repeating it is harmless."""
        return Call("DELETE", path("/v1/instances/{}", instance_id), model_of(InstanceOut))

    @operation
    def console(self, instance_id: str) -> Call[str]:
        """The instance's console output."""
        route = path("/v1/instances/{}/console", instance_id)
        return Call("GET", route, text, accept="text/plain, application/problem+json")

    @operation
    def metrics(self, instance_id: str, *, since: datetime | None = None) -> Call[MetricsOut]:
        """Metric samples since `since` (default: an hour ago)."""
        route = path("/v1/instances/{}/metrics", instance_id)
        return Call("GET", route, model_of(MetricsOut), query(since=since))

    @operation
    def extend(self, instance_id: str, change: ExtendIn | Mapping[str, Any]) -> Call[InstanceOut]:
        """Move the end of the instance's lifetime: `{"hours": n}` after its current end, or `{"expires_at": t}`
        (within the project's cap). Owners only."""
        content = body(ExtendIn, change)
        return Call("POST", path("/v1/instances/{}/extend", instance_id), model_of(InstanceOut), content=content)

    @procedure
    def wait_for(
        self,
        instance_id: str,
        state: str | Collection[str] = "running",
        *,
        timeout: float = 300.0,
        progress: Progress[InstanceOut] | None = None,
        failed: Collection[str] = ENDED,
    ) -> Plan[InstanceOut]:
        """Wait until the instance is in `state` (one or several); raises WaitFailed when it reaches one of
        `failed` instead, WaitTimeout after `timeout` seconds. `progress` hears of every poll."""
        found = yield from wait(
            "instance", [instance_id], _one, _state, states(state), failed, timeout=timeout, progress=progress
        )
        return found[0]

    @procedure
    def wait_for_all(
        self,
        instance_ids: Sequence[str],
        state: str | Collection[str] = "running",
        *,
        timeout: float = 300.0,
        progress: Progress[InstanceOut] | None = None,
        failed: Collection[str] = ENDED,
    ) -> Plan[builtins.list[InstanceOut]]:
        """`wait_for` of several instances at once, with one progress for all (`done` of `total`)."""
        return (
            yield from wait(
                "instance", instance_ids, _one, _state, states(state), failed, timeout=timeout, progress=progress
            )
        )
