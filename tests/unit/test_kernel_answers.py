"""The answers a hot route writes itself (kernel.http.answer, kernel.pagination.page_answer) are byte for byte what
FastAPI writes for the same answer model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from kernel.http import answer, page_answer
from kernel.pagination import Page


class ThingOut(BaseModel):
    id: str
    state: str
    tags: dict[str, str] = Field(default_factory=dict)
    ips: list[str]
    seen_at: datetime
    note: str | None = Field(default=None, alias="remark")


@dataclass(frozen=True)
class ThingRecord:
    id: str
    state: str
    ips: tuple[str, ...]
    seen_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    remark: str | None = None


RECORDS = [
    ThingRecord("a", "running", ("10.0.0.1",), datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC), {"k": "é"}),
    ThingRecord("b", "stopped", (), datetime(2026, 12, 3, 12, 0, 1, tzinfo=UTC), remark='a "quote" and \u2028'),
]


def app() -> FastAPI:
    made = FastAPI()

    @made.get("/page/fastapi", response_model=Page[ThingOut])
    async def page_by_fastapi() -> Page[ThingOut]:
        items = [ThingOut.model_validate(r, from_attributes=True) for r in RECORDS]
        return Page[ThingOut](items=items, next_cursor="c1")

    @made.get("/page/kernel", response_model=Page[ThingOut])
    async def page_by_kernel() -> Response:
        return page_answer(ThingOut, RECORDS, "c1")

    @made.post("/one/fastapi", response_model=ThingOut, status_code=202)
    async def one_by_fastapi() -> ThingOut:
        return ThingOut.model_validate(RECORDS[1], from_attributes=True)

    @made.post("/one/kernel", response_model=ThingOut, status_code=202)
    async def one_by_kernel() -> Response:
        return answer(ThingOut.model_validate(RECORDS[1], from_attributes=True), status=202)

    return made


async def test_a_page_and_a_record_are_written_as_fastapi_writes_them() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for method, path in (("GET", "/page"), ("POST", "/one")):
            by_fastapi = await client.request(method, f"{path}/fastapi")
            by_kernel = await client.request(method, f"{path}/kernel")
            assert by_kernel.status_code == by_fastapi.status_code
            assert by_kernel.content == by_fastapi.content
            assert by_kernel.headers["content-type"] == by_fastapi.headers["content-type"] == "application/json"
