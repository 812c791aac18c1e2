"""Where a cloud account added or changed through the API may point (`CLANAVI_PROVISIONER_ENDPOINT_DENY`).

Every string in the account's settings that names a place on the network (a URL, a libvirt URI) is an endpoint,
whatever the setting is called: EC2's `endpoint_url` and `cloudwatch_endpoint_url`, OpenStack's `auth_url`, XCP's
`url`, libvirt's `uri`, and whatever a plugin adapter takes. Each host is resolved (off the event loop), and the
account is refused (422, naming the setting) when any address it resolves to is in a denied network, or when it does
not resolve at all: nothing connects before that.

A URI that reaches this machine without a network address counts as loopback (127.0.0.1 and ::1): a local socket or
file (`qemu:///system`, `qemu+unix://`), and a command run here (libvirt's `+ext` transport, `?command=`). Libvirt's
built-in test driver (`test:///default`) opens nothing and goes unchecked.

Names are resolved when the account is checked; the adapter resolves them again when it connects, so a name whose
answer changes in between (DNS rebinding) is not covered, nor are HTTP redirects an SDK follows, nor the endpoints an
OpenStack service catalogue names. Accounts from the provisioner's configuration are the operator's and never
checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kernel.errors import ValidationFailed
from kernel.networks import Network, network_of, refusal, resolve

SETTING = "CLANAVI_PROVISIONER_ENDPOINT_DENY"
# What a URI that reaches this machine without a network address is judged as.
THIS_MACHINE = ("127.0.0.1", "::1")
# libvirt's built-in test driver: an in-memory hypervisor that opens no socket and reads no file.
_IN_PROCESS = frozenset({"test:///default"})
# libvirt transports that reach this machine whatever host the URI names.
_LOCAL_TRANSPORTS = frozenset({"unix", "ext"})


class EndpointDenied(
    ValidationFailed,
    code="cloud_endpoint_denied",
    title="The cloud account points where the provisioner may not connect",
): ...


@dataclass(frozen=True)
class Endpoint:
    """A place an account's setting names: `host` to resolve, or None for this machine."""

    location: str
    host: str | None


def _strings(value: Any, location: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{location}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{location}.{index}")


def endpoint(location: str, value: str) -> Endpoint | None:
    """The place `value` names, or None when it names none. Raises ValueError when it looks like a URL but does not
    parse as one."""
    if ("://" not in value and not value.startswith("//")) or value in _IN_PROCESS:
        return None
    parts = urlsplit(value)
    transport = parts.scheme.partition("+")[2].lower()
    if transport in _LOCAL_TRANSPORTS or "command" in parse_qs(parts.query):
        return Endpoint(location, None)
    return Endpoint(location, parts.hostname or None)


def endpoints(config: Mapping[str, Any], credentials: Mapping[str, Any]) -> list[Endpoint]:
    """Every place the settings name (a secret may be a URL: a libvirt URI with a password). Raises ValidationFailed
    naming a setting that looks like a URL but does not parse as one."""
    found: list[Endpoint] = []
    for part, settings in (("config", config), ("credentials", credentials)):
        for location, value in _strings(dict(settings), f"body.{part}"):
            try:
                place = endpoint(location, value)
            except ValueError:
                raise EndpointDenied(
                    "A setting looks like a URL but is not one; nothing was stored.",
                    errors=[{"location": location, "message": "not a valid URL"}],
                ) from None
            if place is not None:
                found.append(place)
    return found


async def _addresses(place: Endpoint) -> list[str]:
    """The addresses `place` resolves to; empty when it does not resolve."""
    return list(THIS_MACHINE) if place.host is None else await resolve(place.host)


def _problem(place: Endpoint, addresses: Sequence[str], deny: Sequence[Network]) -> str | None:
    if place.host is not None:
        return refusal(place.host, addresses, deny)
    for address in addresses:
        network = network_of(address, deny)
        if network is not None:
            return f"reaches this machine without a network address: counts as {address}, in {network}"
    return None


async def check(
    config: Mapping[str, Any], credentials: Mapping[str, Any], *, deny: Sequence[Network], within: float
) -> None:
    """Refuse (422 `cloud_endpoint_denied`, naming each setting) settings that point into a denied network or at a
    name that does not resolve; nothing is looked up when nothing is denied."""
    if not deny:
        return
    places = endpoints(config, credentials)
    try:
        async with asyncio.timeout(within):
            resolved = await asyncio.gather(*(_addresses(place) for place in places))
    except TimeoutError:
        raise EndpointDenied(
            f"Looking up the hosts of the account's settings took longer than {within:g} seconds; nothing was stored.",
            errors=[{"location": p.location, "message": "not resolved in time"} for p in places],
        ) from None
    problems = [
        {"location": place.location, "message": problem}
        for place, addresses in zip(places, resolved, strict=True)
        if (problem := _problem(place, addresses, deny)) is not None
    ]
    if problems:
        raise EndpointDenied(
            "The provisioner does not connect accounts added through the API to loopback, link-local (cloud "
            f"metadata) or other denied addresses, nor to names that do not resolve; nothing was stored. The denied "
            f"networks are the operator's to choose, in {SETTING} (or the operator configures the account in "
            "CLANAVI_PROVISIONER_CLOUDS, which is not checked).",
            errors=problems,
        )


__all__ = ["SETTING", "THIS_MACHINE", "Endpoint", "EndpointDenied", "check", "endpoint", "endpoints"]
