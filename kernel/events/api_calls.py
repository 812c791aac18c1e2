"""v1 `api.called`: one call to the public API as the gateway saw it, published so the audit records it beside the
events. Never a body, the Authorization header or the value of a sensitive query parameter."""

from __future__ import annotations

from kernel.events.envelope import EventPayload


class ApiCalled(EventPayload):
    """`principal` is `user:<id>`, `key:<id>` or `anonymous` (a call refused before anyone was authenticated); `route`
    the route template (`/v1/instances/{instance_id}`), None when no route matched; `resource_id` the last id in the
    path; `client_address` the client as the gateway determined it (X-Forwarded-For only from trusted proxies);
    `query` the query string with sensitive values replaced by `[redacted]`. The event's subject is `resource_id` for a
    call that succeeded only."""

    TYPE = "api.called"
    principal: str
    method: str
    path: str
    route: str | None
    resource_id: str | None
    query: str
    client_address: str
    status: int
    duration_ms: float
    user_agent: str | None = None

    SUBJECT = "resource_id"

    @property
    def subject(self) -> str | None:
        # Only a call that succeeded is about a resource of its project; a refused one names whatever id its caller
        # typed (another project's, one that never existed), which the trail must not index as the project's.
        return self.resource_id if self.status < 400 else None
