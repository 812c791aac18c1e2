"""How Clanavi's objects are named inside a libvirt storage pool, the only place libvirt keeps volumes.

A storage volume has no metadata of its own, so what Clanavi knows about a volume lives in its name:

- images:      `<image_prefix><image name>`, e.g. `image-debian-12`, or `<image_prefix><image name>.t=<token>` for one
               made from an instance; the id is the volume's name.
- root disks:  `<prefix>root-<instance uuid>`; never shown as volumes.
- volumes:     `<prefix>vol-<id hex>[.n=<name>][.s=<snapshot id>].t=<token>`; the id is `vol-<id hex>`.
- snapshots:   `<prefix>snap-<id hex>[.n=<name>].v=<volume id>.t=<token>`; the id is `snap-<id hex>`.

`<token>` is the digest of the client token of the create that made it (`kit.token_digest`), which a repeated create
looks for. An image's name is its name alone, so it is not made twice even by two calls at one moment; a volume's
carries its creation time too, so the adapter makes one create of a token wait for another.

Ids start with their creation time in milliseconds (like UUIDv7), so a volume's age survives without metadata.
Field values are percent-encoded, dots included, so `.` only ever separates fields. Any other volume in the pool
(put there by an administrator) is a volume whose id and name are its libvirt name.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Kind = Literal["vol", "snap"]

# The longest file name most file systems take; a dir pool's volume is a file.
MAX_VOLUME_NAME = 255
_ID = re.compile(r"^(vol|snap)-([0-9a-f]{12})([0-9a-f]{8})$")
_IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_id(kind: Kind, now: datetime) -> str:
    millis = int(now.timestamp() * 1000)
    return f"{kind}-{millis:012x}{secrets.token_hex(4)}"


def created_at(managed_id: str) -> datetime | None:
    """When the object with this id was created, read back from the id itself."""
    match = _ID.match(managed_id)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(2), 16) / 1000, UTC)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="").replace(".", "%2E")


@dataclass(frozen=True, slots=True)
class Managed:
    kind: Kind
    id: str
    fields: Mapping[str, str] = field(default_factory=dict)


def encode(prefix: str, managed_id: str, fields: Mapping[str, str]) -> str:
    """The libvirt volume name for a volume or snapshot; empty fields are left out."""
    name = prefix + managed_id + "".join(f".{key}={_quote(value)}" for key, value in fields.items() if value)
    if len(name.encode()) > MAX_VOLUME_NAME:
        raise ValueError("the name is too long to keep in a storage volume's name")
    return name


def decode(prefix: str, volume_name: str) -> Managed | None:
    """The volume or snapshot a libvirt volume name stands for, or None if Clanavi did not name it."""
    if not volume_name.startswith(prefix):
        return None
    head, *parts = volume_name[len(prefix) :].split(".")
    match = _ID.match(head)
    if match is None:
        return None
    fields: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            return None
        fields[key] = urllib.parse.unquote(value)
    kind: Kind = "vol" if match.group(1) == "vol" else "snap"
    return Managed(kind, head, fields)


# Image names have no '=', so this cannot end a name of the image's own.
_IMAGE_TOKEN = ".t="  # noqa: S105 - a separator in a name, not a secret


def image_volume(image_prefix: str, name: str, token: str) -> str:
    """The libvirt volume name (and id) of the image `name` made by the create whose client token has this digest."""
    return f"{image_prefix}{name}{_IMAGE_TOKEN}{token}"


def image_name(image_prefix: str, volume_name: str) -> str:
    """The name of the image that is the volume `volume_name`."""
    return volume_name[len(image_prefix) :].partition(_IMAGE_TOKEN)[0]


def root_volume(prefix: str, instance_id: str) -> str:
    return f"{prefix}root-{instance_id}"


def is_root_volume(prefix: str, volume_name: str) -> bool:
    return volume_name.startswith(f"{prefix}root-")


def valid_image_name(name: str) -> bool:
    return _IMAGE_NAME.match(name) is not None
