"""Bad input gets a clear 4xx problem JSON, and nothing is created."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.platform import Platform, audit_events

pytestmark = pytest.mark.e2e
# Counts every instance and launch event of project `default` before and after: a platform of its own.
OWN_PLATFORM = True


def assert_problem(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].startswith("urn:clanavi:problem:") and body["title"] and body["detail"]
    assert body["correlation_id"] == answer.headers["x-correlation-id"]


async def _count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/instances", params={"limit": 500})).json()["items"])


async def test_bad_input_is_refused_and_nothing_is_created(platform: Platform) -> None:
    async with platform.client() as client:
        before = await _count(client)
        requested_before = len(await audit_events(client, type="instance.requested"))

        answer = await client.post(
            "/v1/instances", json={"name": "x", "image_id": "img-debian-12", "flavor_id": "huge"}
        )
        assert_problem(answer, 422, "validation_failed")
        assert answer.json()["errors"][0]["location"] == "body.flavor_id"

        answer = await client.post("/v1/instances", json={"name": "x", "image_id": "nope", "flavor_id": "sim.small"})
        assert_problem(answer, 422, "validation_failed")

        answer = await client.post(
            "/v1/instances", content=b'{"name": "x", "image_id":', headers={"Content-Type": "application/json"}
        )
        assert_problem(answer, 422, "validation_failed")
        assert "not valid JSON" in answer.json()["detail"]

        answer = await client.post("/v1/instances", json={"name": "bad name!", "image_id": "a", "flavor_id": "b"})
        assert_problem(answer, 422, "validation_failed")
        answer = await client.post("/v1/instances", json={"name": "x", "image_id": "a", "flavor_id": "b", "zz": 1})
        assert_problem(answer, 422, "validation_failed")
        answer = await client.post(
            "/v1/instances", json={"name": "x", "cloud_id": "nowhere", "image_id": "a", "flavor_id": "b"}
        )
        assert_problem(answer, 422, "validation_failed")

        assert_problem(await client.get("/v1/instances/00000000-0000-0000-0000-000000000000"), 404, "not_found")
        assert_problem(await client.get("/v1/instances/not-a-uuid"), 404, "not_found")
        assert_problem(await client.delete("/v1/instances/00000000-0000-0000-0000-000000000000"), 404, "not_found")
        assert_problem(
            await client.post("/v1/instances/00000000-0000-0000-0000-000000000000/actions/stop"), 404, "not_found"
        )
        assert_problem(await client.post("/v1/instances/x/actions/explode"), 422, "validation_failed")
        assert_problem(await client.get("/v1/instances", params={"cursor": "garbage"}), 422, "validation_failed")
        assert_problem(await client.get("/v1/instances", params={"limit": 0}), 422, "validation_failed")
        assert_problem(await client.get("/v1/nothing-here"), 404, "not_found")
        big = {"name": "x", "image_id": "a" * 2_000_000, "flavor_id": "b"}
        assert_problem(await client.post("/v1/instances", json=big), 413, "payload_too_large")

        assert await _count(client) == before
        assert len(await audit_events(client, type="instance.requested")) == requested_before


@pytest.mark.parametrize("token", [None, "wrong-token-000000000", ""])
async def test_missing_or_wrong_token_is_401(platform: Platform, token: str | None) -> None:
    async with platform.client(token=token) as client:
        for answer in (
            await client.get("/v1/instances"),
            await client.post(
                "/v1/instances", json={"name": "x", "image_id": "img-debian-12", "flavor_id": "sim.small"}
            ),
            await client.get("/v1/audit/events"),
        ):
            assert_problem(answer, 401, "unauthenticated")
    async with platform.client() as client:
        names = [i["name"] for i in (await client.get("/v1/instances", params={"limit": 500})).json()["items"]]
        assert "x" not in names
