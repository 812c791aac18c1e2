"""Settings for tests that build services without reaching any server (to read their routes and OpenAPI document,
or check their settings): URLs of servers that do not exist, and the unit tests' keys."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from kernel.settings import KernelSettings
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def kernel_settings(**fields: Any) -> KernelSettings:
    """Settings that reach nothing; `fields` add to them (or replace them)."""
    offline: dict[str, Any] = {
        "env": "test",
        "database_url": SecretStr("postgresql://nowhere/none"),
        "amqp_url": SecretStr("amqp://nowhere/"),
        "internal_key": SecretStr("unit-internal-key-0123456789abcdef01234"),
        "secret_key": SecretStr("unit-secret-key-0123456789abcdef0123456"),
    }
    return KernelSettings(**{**offline, **fields})


def gateway_app() -> FastAPI:
    """The gateway's app, built and never started."""
    return create_app(GatewaySettings(kernel=kernel_settings()))
