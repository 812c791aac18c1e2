"""Alerts on the platform as processes, through the installed `clanavi` command: a signed webhook channel, a rule on
a custom metric (refused, naming the metric, until the project pushed it), the alert it fires shown and delivered to a
local receiver that checks its signature, silenced, and bad input refused; and the console's alerts page in a real
browser: an alert firing now, silenced by an operator's form (bad matchers and times refused in it) and the silence
expired."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from devstack.ports import free_port
from tests.e2e.console_kit import CONSOLE, add_members
from tests.e2e.platform import TOKEN, Platform, eventually
from tests.e2e.test_cli import Shell
from tests.e2e.test_console_browser import Visit, browser
from tests.integration.webhook_receiver import verify

__all__ = ["browser"]  # the browser fixture, shared with the console's own suite

pytestmark = pytest.mark.e2e

CHECKOUT = str(Path(__file__).resolve().parents[2])


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver in its own thread (the CLI's calls block the test's loop): it keeps what it was sent."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet."""


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("OwnHook", (Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


async def push(platform: Platform, value: float, queue: str) -> None:
    async with platform.client() as admin:
        sample = {"name": "queue_depth", "value": value, "labels": {"queue": queue}}
        answer = await admin.post("/v1/metrics", json={"samples": [sample]})
        assert answer.status_code == 202, answer.text


async def test_an_alert_fires_is_delivered_signed_and_silenced_from_the_command_line(
    platform: Platform, tmp_path: Path, hook: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = hook
    admin = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    queue = f"q{uuid.uuid4().hex[:6]}"
    await push(platform, 5, queue)  # the project publishes queue_depth: a rule may name it once the service heard
    channel = admin("channels", "create", "--name", f"hook-{queue}", "--webhook", url, "-o", "json").json()
    secret = channel["secret"]
    assert secret.startswith("whsec_") and channel["enabled"]

    name = f"deep-{queue}"
    rule = ["alert-rules", "create", "--name", name, "--kind", "threshold", "--when", f"{queue}_depth>100"]
    unknown = admin(*rule, expect=1)
    assert "metric" in unknown.err
    rule = [*rule[:-1], "queue_depth>100", "--channel", channel["id"], "--group-wait", "0", "--severity", "critical"]
    deadline = time.monotonic() + 20
    while (made := admin(*rule, "-o", "json", expect=None)).status != 0:
        assert time.monotonic() < deadline, made.err  # the alerts service learns the pushed metric from the bus
        await asyncio.sleep(0.2)
    rule_id = made.json()["id"]

    await push(platform, 150, queue)

    async def delivered() -> bool:
        return bool(received)

    await eventually(delivered, what="the signed notification")
    headers, body = received[0]
    assert verify(secret, headers, body) and queue in body.decode()
    (firing,) = admin("alerts", "list", "--rule", rule_id, "-o", "json").json()
    assert firing["state"] == "firing" and firing["labels"]["queue"] == queue and not firing["silenced"]
    deliveries = admin.poll(
        "channels", "deliveries", channel["id"], until=lambda items: items and items[0]["state"] == "delivered"
    )
    assert deliveries[0]["attempts"] == 1 and deliveries[0]["last_status"] == 204 and secret not in str(deliveries)

    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    silence = admin("silences", "create", "--match", f"alertname={name}", "--ends", ends, "-o", "json").json()
    assert silence["state"] == "active"
    (silenced,) = admin("alerts", "list", "--rule", rule_id, "-o", "json").json()
    assert silenced["silenced"] is True
    admin("silences", "expire", silence["id"])

    await push(platform, 1, queue)
    history = admin.poll("alerts", "history", "--rule", rule_id, until=lambda items: len(items) == 1)
    assert history[0]["id"] == firing["id"] and history[0]["state"] == "resolved"

    bad = admin("channels", "create", "--name", "x", "--webhook", "ftp://example.com/x", expect=None)
    assert bad.status != 0 and "url" in bad.err


def test_the_console_shows_the_alerts_firing_and_an_operator_silences_one_and_expires_the_silence(
    platform: Platform, browser: webdriver.Chrome
) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    queue = f"c-{uuid.uuid4().hex[:6]}"

    async def prepare() -> str:
        await push(platform, 1, queue)
        async with platform.client() as admin:
            rule = {"name": f"deep-{queue}", "kind": "threshold", "metric": "queue_depth", "operator": ">", "value": 9}

            async def made() -> dict[str, Any] | None:
                answer = await admin.post("/v1/alert-rules", json=rule)
                return None if answer.status_code == 422 else _created(answer)

            rule_id = str((await eventually(made, what="the metric known"))["id"])
            await push(platform, 10, queue)
            return rule_id

    async def silences_of_queue() -> list[dict[str, Any]]:
        async with platform.client() as admin:
            found = (await admin.get("/v1/silences", params={"state": "active", "limit": 100})).json()["items"]
        return [s for s in found if {"label": "queue", "value": queue, "regex": False} in s["matchers"]]

    rule_id = asyncio.run(prepare())
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["operator"].email)

    def firing(d: webdriver.Chrome) -> list[Any]:
        d.get(f"{platform.gateway_url}{CONSOLE}/alerts?rule_id={rule_id}")
        return list(d.find_elements(By.CSS_SELECTOR, "tr[data-state=firing]"))

    (row,) = visit.wait("the alert firing", firing)
    assert row.get_attribute("data-silenced") is None and f"queue={queue}" in row.text
    assert "queue_depth is 10 (> 9)" in row.text

    def silence(matchers: str, hours: str) -> None:
        visit.fill("new-silence", {"matchers": matchers, "hours": hours, "comment": "maintenance"})
        visit.submit("new-silence")

    # A line that is not a matcher, then a silence of no time: each refused in the form, nothing made.
    silence(f"queue {queue}", "1")
    visit.wait("the matcher refused", lambda d: d.find_elements(By.ID, "error-matchers"))
    assert browser.find_element(By.ID, "field-matchers").get_attribute("aria-invalid") == "true"
    silence(f"queue={queue}", "0")
    visit.wait("the time refused", lambda d: d.find_elements(By.ID, "error-hours"))
    assert browser.find_element(By.ID, "field-matchers").get_attribute("value") == f"queue={queue}"
    assert asyncio.run(silences_of_queue()) == []
    visit.shot("alerts-silence-refused")

    silence(f"queue={queue}", "1.5")
    visit.wait("back on the alerts page", lambda d: d.current_url.endswith(f"{CONSOLE}/alerts"))
    (made,) = asyncio.run(silences_of_queue())
    assert made["comment"] == "maintenance"
    lasts = datetime.fromisoformat(made["ends_at"]) - datetime.fromisoformat(made["starts_at"])
    assert timedelta(hours=1.5) - timedelta(minutes=1) < lasts <= timedelta(hours=1.5)
    (row,) = visit.wait("the alert silenced", lambda d: [r for r in firing(d) if r.get_attribute("data-silenced")])
    assert row.get_attribute("data-silenced") == "true"
    visit.shot("alerts-firing-silenced")
    browser.find_element(By.CSS_SELECTOR, f"#silence-{made['id']} button[type=submit]").click()
    visit.wait("the silence gone", lambda d: not d.find_elements(By.ID, f"silence-{made['id']}"))
    (row,) = firing(browser)
    assert row.get_attribute("data-silenced") is None
    assert asyncio.run(silences_of_queue()) == []
    assert not visit.csp_violations()


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body
