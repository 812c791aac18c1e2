"""The gateway serves the frontends installed distributions register, and the API whatever one of them does."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

import pytest
from fastapi import FastAPI

from services.gateway.frontends import ENTRY_POINT_GROUP, install_all
from services.gateway.settings import GatewaySettings
from tests.offline import gateway_app, kernel_settings


def _paths(app: FastAPI) -> set[str]:
    return {getattr(route, "path", "") for route in app.routes}


def test_the_console_is_a_registered_frontend_the_gateway_serves() -> None:
    app = gateway_app()
    assert "/console" in _paths(app) and "/console/static" in _paths(app)
    assert "/v1/instances" in _paths(app)


def test_a_frontend_that_does_not_load_is_left_out_and_the_others_are_served(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    settings = GatewaySettings(kernel=kernel_settings())
    points = [
        EntryPoint("broken", "clanavi.no_such_frontend:install", ENTRY_POINT_GROUP),
        EntryPoint("console", "clanavi.console:install", ENTRY_POINT_GROUP),
    ]
    with caplog.at_level(logging.ERROR, logger="services.gateway.frontends"):
        assert install_all(app, settings, points) == ["console"]
    assert "the broken frontend" in caplog.text
    assert "/console" in _paths(app)
    assert install_all(FastAPI(), settings, []) == []
