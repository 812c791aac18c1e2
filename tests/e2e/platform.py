"""The whole platform started as processes, as `make run` starts it, and a client that drives it like a user."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from devstack import free_port
from devstack.processes import ServiceProcess, service_env, stop_processes
from kernel.bus import Bus
from kernel.events import Envelope

TOKEN = "e2e-admin-token-0123456789"
INTERNAL_KEY = "e2e-internal-key-0123456789abcdef0123456789"
SECRET_KEY = "e2e-secret-key-0123456789abcdef0123456789"
# The audit's digest signing key: 32 bytes in base64.
AUDIT_SIGNING_KEY = "ZTJlLWF1ZGl0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk="
T = TypeVar("T")


@dataclass
class Platform:
    root: Path
    database_url: str
    amqp_url: str
    sim_timings: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = {
            name: free_port() for name in ("gateway", "provisioner", "audit", "scaler", "failover", "billing", "alerts")
        }
        env = service_env(
            env="test",
            database_url=self.database_url,
            amqp_url=self.amqp_url,
            bus_prefix=f"e{uuid.uuid4().hex[:10]}",
            admin_token=TOKEN,
            internal_key=INTERNAL_KEY,
            # Every test client calls from 127.0.0.1 with one key: the rate limits have tests of their own.
            gateway_rate_limit_per_ip="0",
            gateway_rate_limit_per_key="0",
            gateway_login_rate_per_ip="0",
            secret_key=SECRET_KEY,
            log_format="text",
            gateway_provisioner_url=f"http://127.0.0.1:{ports['provisioner']}",
            gateway_audit_url=f"http://127.0.0.1:{ports['audit']}",
            gateway_scaler_url=f"http://127.0.0.1:{ports['scaler']}",
            gateway_failover_url=f"http://127.0.0.1:{ports['failover']}",
            gateway_billing_url=f"http://127.0.0.1:{ports['billing']}",
            gateway_alerts_url=f"http://127.0.0.1:{ports['alerts']}",
            # Deliveries retried within a test's time, and time-driven judgements soon after they are due.
            alerts_retry_schedule_seconds="[0.2, 0.5, 1]",
            alerts_evaluate_interval_seconds="0.2",
            alerts_webhook_deny="",  # the tests' webhook receivers listen on 127.0.0.1
            provisioner_follow_interval="0.05",
            # Digests every half second and API calls flushed at once: the audit's tests see them without waiting.
            audit_signing_key=AUDIT_SIGNING_KEY,
            audit_digest_interval_seconds="0.5",
            gateway_api_calls_flush_seconds="0.05",
            # Every sample a point on a scaling group's chart: the console's tests draw a few at once.
            scaler_history_seconds="0",
            # Accounts added through the API point at the stand-ins on 127.0.0.1 (moto): loopback is allowed here.
            provisioner_endpoint_deny="",
            **{f"{name}_port": str(port) for name, port in ports.items()},
            **{f"provisioner_sim_{k}_seconds": v for k, v in self.sim_timings.items()},
        )
        for name, port in ports.items():
            self.processes[name] = ServiceProcess(name, port, env, self.root / f"{name}.log")

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['gateway'].port}"

    def start(self, *names: str) -> None:
        chosen = names or ("provisioner", "audit", "scaler", "failover", "billing", "alerts", "gateway")
        for name in chosen:
            self.processes[name].start()
        for name in chosen:
            self.processes[name].wait_ready()

    def stop(self) -> None:
        stop_processes(process.process for process in self.processes.values())

    async def publish(self, *envelopes: Envelope) -> None:
        """Publish events on the platform's bus as a service the platform does not run here would (billing's)."""
        prefix = self.processes["provisioner"].env["CLANAVI_BUS_PREFIX"]
        bus = Bus(self.amqp_url, prefix=prefix, service="e2e-publisher")
        await bus.connect()
        try:
            await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])
        finally:
            await bus.close()

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.gateway_url, headers=headers, timeout=30)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 20.0, what: str = "") -> T:
    """Poll `probe` until it returns something other than None (or False), failing after `within` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last is not None and last is not False:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached within {within}s: {what} (last: {last!r})")


async def wait_for_state(client: httpx.AsyncClient, instance_id: str, state: str, within: float = 20.0) -> Any:
    async def probe() -> Any:
        body = (await client.get(f"/v1/instances/{instance_id}")).json()
        return body if body["state"] == state else None

    return await eventually(probe, within=within, what=f"instance {instance_id} {state}")


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following the cursor across pages. After the first page only the cursor and the
    filters are sent: the cursor carries the sort and the order."""
    answer = await client.get(path, params=params)
    filters = {k: v for k, v in params.items() if k not in ("sort", "order")}
    items: list[dict[str, Any]] = []
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        if not body["next_cursor"]:
            return items
        answer = await client.get(path, params={**filters, "cursor": body["next_cursor"]})


async def audit_events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every audit event matching the filters."""
    return await walk(client, "/v1/audit/events", **params, limit=500)
