"""Idempotency-Key through the whole platform: concurrent repeats of one launch make one instance."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

LAUNCH = {"image_id": "img-debian-12", "flavor_id": "sim.small"}


async def test_ten_concurrent_launches_with_one_key_make_one_instance(platform: Platform) -> None:
    async with platform.client() as client:
        headers = {"Idempotency-Key": "launch-web-7"}
        body = {**LAUNCH, "name": "idem-web-7"}
        answers = await asyncio.gather(*(client.post("/v1/instances", json=body, headers=headers) for _ in range(10)))
        assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
        assert len({a.content for a in answers}) == 1, "every repeat answers the first answer, byte for byte"
        assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 9

        listed = (await client.get("/v1/instances", params={"name": "idem-web-7", "limit": 500})).json()["items"]
        assert [i["id"] for i in listed] == [answers[0].json()["id"]]

        again = await client.post("/v1/instances", json=body, headers=headers)
        assert again.status_code == 202 and again.content == answers[0].content

        other = await client.post("/v1/instances", json={**body, "name": "idem-web-8"}, headers=headers)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        assert (await client.get("/v1/instances", params={"name": "idem-web-8"})).json()["items"] == []


async def test_keys_are_per_project(platform: Platform) -> None:
    async with platform.client() as admin:
        assert (await admin.post("/v1/projects", json={"id": "idem-b", "name": "B"})).status_code == 201
        cloud = await admin.post(
            "/v1/clouds",
            json={"name": "sim-b", "driver": "simcloud", "config": {"boot_seconds": 0.1}},
            headers={"X-Clanavi-Project": "idem-b"},
        )
        assert cloud.status_code == 201, cloud.text
        headers = {"Idempotency-Key": "same-key"}
        first = await admin.post("/v1/instances", json={**LAUNCH, "name": "in-default"}, headers=headers)
        second = await admin.post(
            "/v1/instances",
            json={**LAUNCH, "name": "in-b", "cloud_id": cloud.json()["id"]},
            headers={**headers, "X-Clanavi-Project": "idem-b"},
        )
        assert first.status_code == second.status_code == 202, (first.text, second.text)
        assert first.json()["id"] != second.json()["id"]
        assert "idempotent-replayed" not in second.headers


async def test_a_replayed_cluster_create_makes_one_cluster(platform: Platform) -> None:
    async with platform.client() as client:
        small = {"name": "idem-small", "clouds": [{"cloud_id": "sim", **LAUNCH}]}
        template = await client.post("/v1/templates", json=small)
        assert template.status_code == 201, template.text
        role = {"name": "db", "template_id": template.json()["template_id"], "cloud_id": "sim", "count": 1}
        body = {"name": "idem-shop", "roles": [role]}
        headers = {"Idempotency-Key": "cluster-shop-1"}
        answers = await asyncio.gather(*(client.post("/v1/clusters", json=body, headers=headers) for _ in range(5)))
        assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
        assert len({a.content for a in answers}) == 1
        listed = (await client.get("/v1/clusters", params={"name": "idem-shop"})).json()["items"]
        assert [c["id"] for c in listed] == [answers[0].json()["id"]]
        assert (await client.delete(f"/v1/clusters/{listed[0]['id']}")).status_code == 202
