"""Scaling groups in the web console, in headless Chromium: an operator makes a group from a spec, adds a policy,
watches the chart of desired / actual / metric fill in as samples arrive, and changes the desired capacity; a viewer
sees the group but none of the forms. No Content-Security-Policy violation on the way."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from kernel.bus import Bus
from kernel.events import MetricPoint, MetricsSampled, new_event
from tests.e2e.console_kit import CONSOLE, add_members
from tests.e2e.platform import Platform, eventually
from tests.e2e.test_console_browser import Visit
from tests.e2e.test_console_browser import browser as browser  # noqa: PLC0414 - the fixture, shared

pytestmark = pytest.mark.e2e
# Its scaling group goes on working after its tests: a platform of its own.
OWN_PLATFORM = True


@pytest.fixture(scope="module")
def template_id(platform: Platform) -> Iterator[str]:
    async def make() -> str:
        async with platform.client() as admin:
            machine = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}
            answer = await admin.post(
                "/v1/templates", json={"name": f"web-{uuid.uuid4().hex[:6]}", "clouds": [machine]}
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["template_id"])

    yield asyncio.run(make())


async def publish_samples(platform: Platform, group_id: str, values: list[float]) -> None:
    env = platform.processes["scaler"].env
    bus = Bus(env["CLANAVI_AMQP_URL"], prefix=env["CLANAVI_BUS_PREFIX"], service="console-test")
    await bus.connect()
    try:
        for value in values:
            point = MetricPoint(
                name="cpu_utilization", value=value, unit="%", at=datetime.now(UTC), labels={"scaling_group": group_id}
            )
            event = new_event(MetricsSampled(source="cloud", samples=[point]), project_id="default", correlation_id="c")
            await bus.publish_many([(event.routing_key, str(event.id), event.model_dump_json().encode())])
            await asyncio.sleep(0.05)
    finally:
        await bus.close()


def test_an_operator_makes_a_group_and_watches_its_chart(
    platform: Platform, browser: webdriver.Chrome, template_id: str
) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["operator"].email)
    browser.find_element(By.LINK_TEXT, "Scaling groups").click()
    visit.wait("the scaling groups page", lambda d: d.current_url.endswith(f"{CONSOLE}/scaling-groups"))
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    spec = browser.find_element(By.ID, "field-spec")
    # min above max: refused, the field named
    spec.clear()
    spec.send_keys(
        json.dumps({"name": "web", "template_id": template_id, "template_version": 1, "min_size": 3, "max_size": 2})
    )
    spec.submit()
    visit.wait("the refusal", lambda d: d.find_elements(By.ID, "spec-problems"))
    assert "min_size" in browser.find_element(By.ID, "spec-problems").text
    visit.shot("scaling-group-refused")

    body = {"name": "web", "template_id": template_id, "template_version": 1, "min_size": 0, "max_size": 3}

    def create() -> bool:
        spec = browser.find_element(By.ID, "field-spec")
        spec.clear()
        spec.send_keys(json.dumps(body))
        spec.submit()
        # The scaler learns of the template from the provisioner's event: until then the version is unknown.
        return "/scaling-groups/" in browser.current_url

    visit.wait("the group's page", lambda d: create())
    group_id = browser.current_url.rsplit("/", 1)[1]
    visit.shot("scaling-group")

    policy = browser.find_element(By.ID, "field-policy")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    policy.clear()
    policy.send_keys("name: cpu\nkind: target_tracking\nmetric: cpu_utilization\ntarget: 60\n")
    browser.find_element(By.CSS_SELECTOR, "button[value=add-policy]").click()
    visit.wait("the policy", lambda d: d.find_elements(By.ID, "policy-cpu"))
    assert "60" in browser.find_element(By.ID, "policy-cpu").text

    asyncio.run(publish_samples(platform, group_id, [20, 45, 70, 55]))

    def charted(driver: Any) -> bool:
        driver.refresh()
        return bool(driver.find_elements(By.ID, "chart-metric"))

    visit.wait("the chart", charted)
    points = browser.find_element(By.ID, "chart-metric").get_attribute("points") or ""
    assert len(points.split()) == 4
    assert "cpu_utilization" in browser.find_element(By.CSS_SELECTOR, "#history figcaption").text
    visit.shot("scaling-group-chart")

    desired = browser.find_element(By.ID, "field-desired")
    desired.clear()
    desired.send_keys("1")
    desired.submit()
    visit.wait("desired 1", lambda d: d.find_element(By.ID, "group-desired").text == "1")
    visit.wait("a member", lambda d: d.find_elements(By.CSS_SELECTOR, "#members tbody tr[id^=member-]"))
    activities = browser.find_element(By.ID, "activities").text
    assert "set 0 -> 1 by" in activities
    assert visit.csp_violations() == []

    # A viewer sees the group, and none of the forms that change it.
    browser.delete_all_cookies()
    visit.log_in(members["viewer"].email)
    visit.open(f"{CONSOLE}/scaling-groups/{group_id}")
    visit.wait("the group's page", lambda d: d.find_elements(By.ID, "policies"))
    assert browser.find_elements(By.ID, "field-desired") == []
    assert browser.find_elements(By.CSS_SELECTOR, "button[value=add-policy]") == []

    async def the_group() -> dict[str, Any] | None:
        async with platform.client() as admin:
            answer = await admin.get(f"/v1/scaling-groups/{group_id}", headers={"X-Clanavi-Project": "default"})
            found: dict[str, Any] = answer.json()
            return found if found.get("desired") == 1 else None

    assert asyncio.run(eventually(the_group, what="the group"))["name"] == "web"
