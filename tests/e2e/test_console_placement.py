"""The launch forms' placement and cost preview, over HTTP as the console's page asks for it: the launch form offers
the allocator's strategies and a Preview that answers (in the form, by htmx) where the launch would go, what it would
cost and every candidate weighed; the same without JavaScript as the whole form; a preview that nothing fits shows
why; a launch placed by a strategy keeps how; a viewer is refused."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.console_kit import CONSOLE, Member, add_members, csrf_of, logged_in
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e
# Expects project `default` to hold only the configured `sim` cloud: a platform of its own.
OWN_PLATFORM = True

FORM = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}


@pytest.fixture(scope="module")
async def members(platform: Platform) -> dict[str, Member]:
    return await add_members(platform, uuid.uuid4().hex[:8])


async def test_the_launch_form_previews_placement_and_cost(platform: Platform, members: dict[str, Member]) -> None:
    name = f"placed-{uuid.uuid4().hex[:6]}"
    async with logged_in(platform, members["operator"].email) as operator:
        form = await operator.get(f"{CONSOLE}/instances/new", params={"cloud_id": "sim"})
        assert form.status_code == 200 and 'name="strategy"' in form.text and "Preview" in form.text
        csrf = csrf_of(form.text)
        htmx = {"HX-Request": "true"}

        plain = await operator.post(
            f"{CONSOLE}/instances/preview", data={**FORM, "name": name, "csrf": csrf}, headers=htmx
        )
        assert plain.status_code == 200, plain.text
        assert "sim (sim-1)" in plain.text and "0.0200 USD/h, 14.6000 USD a month" in plain.text
        assert "<table" not in plain.text, "a launch on the cloud chosen weighs no candidates"

        asked = {**FORM, "name": name, "csrf": csrf, "strategy": "cheapest"}
        placed = await operator.post(f"{CONSOLE}/instances/preview", data=asked, headers=htmx)
        assert placed.status_code == 200 and 'class="candidates"' in placed.text and "(cheapest)" in placed.text
        assert "USD/h" in placed.text and "<html" not in placed.text

        whole = await operator.post(f"{CONSOLE}/instances/preview", data=asked)
        assert whole.status_code == 200 and "<html" in whole.text and 'class="candidates"' in whole.text

        nothing = await operator.post(
            f"{CONSOLE}/instances/preview", data={**asked, "flavor_id": "no.such"}, headers=htmx
        )
        # The project's one cloud refuses it in the launch's own words.
        assert nothing.status_code == 200 and 'role="alert"' in nothing.text and "does not exist" in nothing.text

        launched = await operator.post(f"{CONSOLE}/instances", data=asked)
        assert launched.status_code == 303, launched.text
    async with platform.client() as admin:
        (instance,) = (await admin.get("/v1/instances", params={"name": name})).json()["items"]
    assert instance["placement"]["strategy"] == "cheapest"

    async with logged_in(platform, members["viewer"].email) as viewer:
        page = await viewer.get(f"{CONSOLE}/instances")
        refused = await viewer.post(
            f"{CONSOLE}/instances/preview", data={**asked, "csrf": csrf_of(page.text)}, headers=htmx
        )
        assert refused.status_code == 403
