"""The notification channels' API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")]
Address = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s,<>]+@[^@\s,<>]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_In):
    kind: Literal["webhook"]
    name: Name
    url: str = Field(min_length=8, max_length=2000, description="http(s) only")

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        return value


class EmailIn(_In):
    kind: Literal["email"]
    name: Name
    to: list[Address] = Field(min_length=1, max_length=20)


class ConsoleIn(_In):
    kind: Literal["console"]
    name: Name


ChannelIn = Annotated[WebhookIn | EmailIn | ConsoleIn, Field(discriminator="kind")]


class ChannelOut(BaseModel):
    id: str
    name: str
    kind: Literal["webhook", "email", "console"]
    url: str | None
    to: list[str]
    enabled: bool
    disabled_reason: str
    created_at: datetime
    updated_at: datetime


class ChannelCreatedOut(ChannelOut):
    secret: str | None = Field(
        description="A webhook's signing secret (`whsec_...`), shown this once: keep it to verify the signatures"
    )


class DeliveryOut(BaseModel):
    id: str
    channel_id: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime
