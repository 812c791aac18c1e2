"""Keyset pagination's pure parts: conditions, cursor values, the query dependency, and that every listing's API
sorts are the sorts its repository knows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import httpx
import pytest
from fastapi import Depends, FastAPI

from kernel.keyset import Column, Listing, PageRequest, Where
from kernel.listing_query import page_query
from services.audit import listing as audit_listing
from services.audit import repository as audit_repository
from services.gateway.identity import listing as identity_listing
from services.gateway.identity import repository as identity_repository
from services.provisioner import listing as provisioner_listing
from services.provisioner.clouds.repository import CLOUD_LISTING
from services.provisioner.instances.repository import INSTANCE_LISTING
from services.provisioner.inventory.repository import RUN_LISTING
from services.provisioner.resources.repository import RESOURCE_LISTING


def test_conditions_number_their_parameters_in_order() -> None:
    where = (
        Where().add("a = {}", 1).given("b = {}", None).given("c = ANY({})", ("x", "y")).add("d BETWEEN {} AND {}", 2, 3)
    )
    assert where.conditions == ["a = $1", "c = ANY($2)", "d BETWEEN $3 AND $4"]
    assert where.args == [1, ["x", "y"], 2, 3]
    assert where.sql() == " WHERE a = $1 AND c = ANY($2) AND d BETWEEN $3 AND $4"
    assert Where().sql() == ""


@pytest.mark.parametrize("value", [False, 0, ""])
def test_false_zero_and_empty_strings_are_values(value: Any) -> None:
    assert Where().given("x = {}", value).args == [value]


def test_nothing_given_adds_nothing() -> None:
    assert Where().given("x = {}", None).given("y = ANY({})", ()).given("z = ANY({})", []).conditions == []


@pytest.mark.parametrize(
    ("column", "value", "parameter"),
    [
        (
            Column("t", "timestamptz"),
            datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            datetime(2026, 1, 2, 3, 4, 5, 6, UTC),
        ),
        (Column("u", "uuid"), uuid.UUID(int=7), uuid.UUID(int=7)),
        (Column("n", "bigint"), 42, 42),
        (Column("s", "text"), "naïve ✓", "naïve ✓"),
    ],
)
def test_cursor_values_come_back_as_the_parameters_they_were(column: Column, value: Any, parameter: Any) -> None:
    assert column.from_cursor(column.to_cursor(value)) == parameter


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (Column("t", "timestamptz"), "2026-01-01T00:00:00"),
        (Column("t", "timestamptz"), 5),
        (Column("u", "uuid"), "x"),
        (Column("n", "bigint"), "5"),
        (Column("n", "bigint"), True),
        (Column("n", "bigint"), 1.5),
        (Column("s", "text"), None),
        (Column("s", "text"), ["a"]),
    ],
)
def test_cursor_values_of_the_wrong_kind_are_refused(column: Column, value: Any) -> None:
    with pytest.raises(ValueError):
        column.from_cursor(value)


def test_a_column_is_read_from_a_row_by_its_name_without_the_alias() -> None:
    assert Column("p.created_at", "timestamptz").key == "created_at"
    assert Column("lower(email)", "text", field="email").key == "email"


def test_the_first_sort_is_the_default_and_a_listing_needs_one() -> None:
    listing = Listing("SELECT 1", {"b": Column("b", "text"), "a": Column("a", "text")}, Column("id", "uuid"))
    assert listing.default_sort == "b"
    with pytest.raises(ValueError):
        Listing("SELECT 1", {}, Column("id", "uuid"))


@pytest.mark.parametrize(
    ("api", "listing"),
    [
        (provisioner_listing.RecordSort, INSTANCE_LISTING),
        (provisioner_listing.RecordSort, RESOURCE_LISTING),
        (provisioner_listing.CloudSort, CLOUD_LISTING),
        (provisioner_listing.SyncSort, RUN_LISTING),
        (identity_listing.UserSort, identity_repository.USER_LISTING),
        (identity_listing.ProjectSort, identity_repository.PROJECT_LISTING),
        (identity_listing.MemberSort, identity_repository.MEMBER_LISTING),
        (identity_listing.ApiKeySort, identity_repository.API_KEY_LISTING),
        (audit_listing.EventSort, audit_repository.EVENT_LISTING),
    ],
)
def test_every_sort_an_api_offers_is_one_its_repository_knows(api: Any, listing: Listing) -> None:
    assert get_args(api) == tuple(listing.sorts)


# --- the query dependency ---------------------------------------------------------------------------------------

Sorts = Literal["created_at", "name"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/things")
    async def things(paging: Annotated[PageRequest, Depends(page_query(Sorts))]) -> dict[str, Any]:
        return {"limit": paging.limit, "cursor": paging.cursor, "sort": paging.sort, "order": paging.order}

    @app.get("/runs")
    async def runs(paging: Annotated[PageRequest, Depends(page_query(Sorts, default_order="desc"))]) -> str:
        return paging.order or ""

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        yield client


async def test_the_query_dependency_reads_and_defaults(client: httpx.AsyncClient) -> None:
    assert (await client.get("/things")).json() == {"limit": 50, "cursor": None, "sort": None, "order": "asc"}
    got = (await client.get("/things", params={"limit": 3, "cursor": "abc", "sort": "name", "order": "desc"})).json()
    assert got == {"limit": 3, "cursor": "abc", "sort": "name", "order": "desc"}
    assert (await client.get("/runs")).json() == "desc"


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"sort": "size"}, {"order": "up"}, {"cursor": "x" * 513}],
)
async def test_the_query_dependency_refuses_what_it_cannot_take(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    assert (await client.get("/things", params=params)).status_code == 422


async def test_the_query_dependency_documents_its_parameters(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in spec["paths"]["/things"]["get"]["parameters"]}
    assert set(parameters) == {"cursor", "limit", "sort", "order"}
    sort = parameters["sort"]["schema"]["anyOf"][0]
    assert sort == {"type": "string", "enum": ["created_at", "name"]}
    assert parameters["limit"]["schema"]["maximum"] == 500
