"""Where a webhook may lead, with the alerts service's default `CLANAVI_ALERTS_WEBHOOK_DENY` (this machine and the
clouds' metadata services): a channel pointing there is refused naming `body.url` and nothing is stored; and a
delivery connects only to an address it checked, so a channel stored before the setting changed (or a name that
resolves there later) sends nothing there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kernel.networks import LOCAL_NETWORKS, parse_networks
from kernel.settings import KernelSettings
from services.alerts.app import create_app
from services.alerts.channels.reach import webhook_client
from services.alerts.settings import AlertsSettings
from tests.integration.webhook_receiver import receiver
from tests.signing import identity_headers

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(kernel_settings: KernelSettings) -> AsyncIterator[FastAPI]:
    app = create_app(AlertsSettings(kernel=kernel_settings))
    async with app.router.lifespan_context(app):
        yield app


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/v1/instances",
        "http://localhost:8080/hook",
        "http://[::1]:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://0.0.0.0/hook",
        "http://no-such-host.invalid/hook",
    ],
)
async def test_a_channel_may_not_lead_to_this_machine_or_a_metadata_service(app: FastAPI, url: str) -> None:
    headers = identity_headers("reach")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerts") as client:
        answer = await client.post(
            "/v1/channels", json={"name": "hook", "kind": "webhook", "url": url}, headers=headers
        )
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["errors"][0]["location"] == "body.url", problem
        assert "CLANAVI_ALERTS_WEBHOOK_DENY" in problem["detail"]
        assert (await client.get("/v1/channels", headers=headers)).json()["items"] == []


async def test_a_delivery_never_connects_to_a_denied_address() -> None:
    async with receiver() as got:
        guarded = webhook_client(5.0, parse_networks(LOCAL_NETWORKS))
        open_ = webhook_client(5.0, ())
        try:
            with pytest.raises(httpx.ConnectError, match="not sent: 127.0.0.1 is in 127.0.0.0/8"):
                await guarded.post(got.url, content=b"{}")
            assert got.received == []
            # The same client with nothing denied reaches it: the refusal is the guard's, not a closed port.
            assert (await open_.post(got.url, content=b"{}")).status_code == 200
            assert len(got.received) == 1
        finally:
            await guarded.aclose()
            await open_.aclose()
