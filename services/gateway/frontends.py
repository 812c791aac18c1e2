"""Frontends the gateway serves beside its API, such as the web console (`clanavi.console`).

A frontend is a client of the API: it calls the gateway's routes through `clanavi.client`, so it stands above the
services and the gateway never imports it. Each registers itself as an entry point of the `clanavi.frontends` group of
an installed distribution, naming `install(app, settings)`, which the gateway calls once its routes are in place. One
that fails to load is logged and left out: the API is served whatever a frontend does."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from typing import Protocol

from fastapi import FastAPI

from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "clanavi.frontends"


class Install(Protocol):
    def __call__(self, app: FastAPI, settings: GatewaySettings, /) -> None: ...


def install_all(
    app: FastAPI, settings: GatewaySettings, points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> list[str]:
    """Install every frontend (`points`, by default those installed distributions register) on `app`; the names of
    those installed."""
    installed = []
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    for point in sorted(found, key=lambda p: p.name):
        try:
            install: Install = point.load()
            install(app, settings)
        except Exception:  # noqa: BLE001 - a broken frontend must not take the API down with it
            log.exception("the %s frontend (%s) could not be installed", point.name, point.value)
            continue
        installed.append(point.name)
    return installed


__all__ = ["ENTRY_POINT_GROUP", "install_all"]
