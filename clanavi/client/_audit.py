"""The audit trail: list and filter it, verify its hash chain, read its end, and follow it as events are recorded."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Literal

from clanavi.client._calls import Call, Query, model_of, page_of, query, text
from clanavi.client._endpoints import M, Namespace, listing, operation, procedure, stream
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._steps import Emit, Pause, Plan, Stream, fetch
from services.audit.schemas import AuditDigest, AuditEvent, AuditPublicKey, ChainVerification

__all__ = ["Audit"]

ROUTE = "/v1/audit/events"
# `project`: the current project's trail; `platform`: the events about the platform itself (platform admins).
Scope = Literal["project", "platform"]
# What a listing does with the API calls recorded beside the events.
Calls = Literal["exclude", "include", "only"]
# The most a page holds.
LONGEST_PAGE = 500


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC, as the API reads it."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _filters(
    types: str | Collection[str] | None,
    resource_id: str | None,
    correlation_id: str | None,
    scope: Scope | None,
) -> Query:
    return query(type=types, resource_id=resource_id, correlation_id=correlation_id, scope=scope)


def _events(filters: Query, *, order: Order | None = None, limit: int | None = None) -> Listing[AuditEvent]:
    return Listing(ROUTE, page_of(AuditEvent), filters, query(order=order), limit)


class Audit(Namespace[M]):
    """Events in the order they happened (`occurred_at`); each names its `correlation_id`, the request's."""

    @listing
    def list(
        self,
        *,
        types: str | Collection[str] | None = None,
        resource_id: str | None = None,
        correlation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: Scope | None = None,
        calls: Calls | None = None,
        actor: str | None = None,
        method: str | None = None,
        status: int | None = None,
        path: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AuditEvent]:
        """The trail, filtered by event type (one or several), resource, correlation id and time (`since` <=
        occurred_at < `until`; a time without an offset is UTC). The API calls (`api.called`) are left out unless
        `calls` is `include` (beside the events) or `only`; `actor`, `method`, `status` and `path` (a prefix) select
        API calls only."""
        filters = (
            *_filters(types, resource_id, correlation_id, scope),
            *query(since=since, until=until, calls=calls, actor=actor, method=method, status=status, path=path),
        )
        return _events(filters, order=order, limit=limit)

    @listing
    def calls(
        self,
        *,
        actor: str | None = None,
        method: str | None = None,
        status: int | None = None,
        path: str | None = None,
        resource_id: str | None = None,
        correlation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AuditEvent]:
        """The project's API calls: who made them, the route and path, from where, the status and duration."""
        filters = (
            *_filters("api.called", resource_id, correlation_id, None),
            *query(since=since, until=until, actor=actor, method=method, status=status, path=path),
        )
        return _events(filters, order=order, limit=limit)

    @listing
    def digests(self, *, order: Order | None = None, limit: int | None = None) -> Listing[AuditDigest]:
        """The signed digests over the chain, newest first (platform admins)."""
        return Listing("/v1/audit/digests", page_of(AuditDigest), (), query(order=order), limit)

    @operation
    def public_key(self) -> Call[AuditPublicKey]:
        """The public key the digests are signed with (PEM)."""
        return Call("GET", "/v1/audit/public-key", model_of(AuditPublicKey))

    @operation
    def export(self) -> Call[str]:
        """The whole trail as JSON lines, with its hashes and digests (platform admins): what
        kernel.audit_trail.verify_export checks offline."""
        return Call("GET", "/v1/audit/export", text, accept="application/x-ndjson, application/problem+json")

    @operation
    def verify(self) -> Call[ChainVerification]:
        """Check the trail's hash chain (platform admins)."""
        return Call("GET", "/v1/audit/verify", model_of(ChainVerification))

    @procedure
    def tail(
        self,
        count: int = 20,
        *,
        types: str | Collection[str] | None = None,
        resource_id: str | None = None,
        correlation_id: str | None = None,
        scope: Scope | None = None,
    ) -> Plan[builtins.list[AuditEvent]]:
        """The last `count` events (at most 500), oldest first."""
        if not 1 <= count <= LONGEST_PAGE:
            raise ValueError(f"count is 1 to {LONGEST_PAGE}")
        filters = _filters(types, resource_id, correlation_id, scope)
        page = yield from fetch(_events(filters, order="desc", limit=count).call())
        return builtins.list(reversed(page.items))

    @stream
    def follow(
        self,
        *,
        types: str | Collection[str] | None = None,
        resource_id: str | None = None,
        correlation_id: str | None = None,
        scope: Scope | None = None,
        since: datetime | None = None,
        backlog: int = 0,
        interval: float = 1.0,
        lookback: float = 10.0,
    ) -> Stream[AuditEvent]:
        """Events as they are recorded, each once, until the iteration is left: those from `since` on, or the last
        `backlog` ones and then the new ones. Every `interval` seconds the trail is read again from `lookback`
        seconds before the newest event seen, so that an event recorded late (its occurred_at earlier than events
        already shown, as when the bus was slow) is still shown; one later than that is missed."""
        if not 0 <= backlog <= LONGEST_PAGE:
            raise ValueError(f"backlog is 0 to {LONGEST_PAGE}")
        filters: Query = _filters(types, resource_id, correlation_id, scope)
        floor = _aware(since)
        seen: dict[uuid.UUID, datetime] = {}
        if floor is None:
            last = yield from fetch(_events(filters, order="desc", limit=max(backlog, 1)).call())
            newest_first = last.items
            for event in reversed(newest_first[:backlog]):
                yield Emit(event)
            seen = {event.id: event.occurred_at for event in newest_first}
            floor = newest_first[0].occurred_at if newest_first else None
        newest: datetime | None = floor
        while True:
            start: datetime | None = newest - timedelta(seconds=lookback) if newest is not None else None
            read = _events((*filters, *query(since=start)), limit=LONGEST_PAGE)
            cursor: str | None = None
            while True:
                page = yield from fetch(read.call(cursor))
                for event in page.items:
                    if event.id in seen or (floor is not None and event.occurred_at < floor):
                        continue
                    seen[event.id] = event.occurred_at
                    newest = event.occurred_at if newest is None else max(newest, event.occurred_at)
                    yield Emit(event)
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
            if newest is not None:
                horizon = newest - timedelta(seconds=lookback)
                seen = {key: moment for key, moment in seen.items() if moment >= horizon}
            yield Pause(interval)
