"""The adapters this platform knows, imported only when a cloud account needs one."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import CloudAdapter


@dataclass(frozen=True)
class AdapterContext:
    """What the platform lends an adapter: a database pool for adapters that keep state (SimCloud)."""

    pool: Any


AdapterFactory = Callable[[str, Mapping[str, Any], AdapterContext], Awaitable[CloudAdapter]]

# driver name -> "module:factory"; the factory is `async def connect(account_id, config, context)`.
DRIVERS: dict[str, str] = {
    "simcloud": "adapters.simcloud:connect",
    "ec2": "adapters.ec2:connect",
    "libvirt": "adapters.libvirt:connect",
}


class UnknownDriver(LookupError):
    pass


def factory(driver: str) -> AdapterFactory:
    try:
        module_name, _, attr = DRIVERS[driver].partition(":")
    except KeyError as exc:
        raise UnknownDriver(driver) from exc
    connect: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return connect
