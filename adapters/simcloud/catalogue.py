"""What an account can launch from and into: its region and zones, the flavors with the account's prices, and
images (SimCloud's public catalogue plus the account's own, made from its instances)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.base import (
    CloudNotFound,
    Flavor,
    Image,
    ImageState,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    Region,
    Zone,
)
from adapters.kit import made_by_token
from adapters.simcloud import timed
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.store import SCHEMA, SimStore, check_client_token, new_id
from kernel import db

_IMAGE_COLUMNS = "id, name, os, min_disk_gb, account_id, state, target_state, due_at, created_at, source_instance_id"
# An instance can be imaged while it exists and is not on its way in or out.
_IMAGEABLE = frozenset(
    {InstanceState.RUNNING, InstanceState.STOPPED, InstanceState.STOPPING, InstanceState.STARTING}
    | {InstanceState.REBOOTING, InstanceState.SUSPENDED}
)
MAX_IMAGE_NAME = 128


def image_from_row(row: Any, now: datetime) -> Image:
    own = row["account_id"] is not None
    extra: dict[str, Any] = {"public": not own, "owner": "self" if own else "simcloud"}
    if own:
        extra["source_instance_id"] = row["source_instance_id"]
        extra["created_at"] = row["created_at"].isoformat()
    return Image(
        id=row["id"],
        name=row["name"],
        os=row["os"],
        state=ImageState(timed.settled(row, now)),
        min_disk_gb=row["min_disk_gb"],
        extra=extra,
    )


class Catalogue:
    def __init__(self, store: SimStore, config: SimCloudConfig) -> None:
        self._store = store
        self._config = config

    async def regions(self) -> list[Region]:
        return [Region(id=self._config.region, name=self._config.region)]

    async def zones(self) -> list[Zone]:
        return [Zone(id=zone, region_id=self._config.region) for zone in self._config.zones]

    def zone(self, wanted: str | None) -> str:
        """The zone named, or the account's first; `InvalidCloudRequest` for a zone the account does not have."""
        if wanted is None:
            return self._config.zones[0]
        if wanted not in self._config.zones:
            raise InvalidCloudRequest(f"zone {wanted} is not one of {', '.join(self._config.zones)}")
        return wanted

    def _flavor(self, row: Any) -> Flavor:
        price = self._config.prices.get(row["id"], float(row["hourly_price"]))
        return Flavor(
            id=row["id"],
            name=row["name"],
            vcpus=row["vcpus"],
            ram_mb=row["ram_mb"],
            disk_gb=row["disk_gb"],
            extra={"hourly_price": price},
        )

    async def flavors(self) -> list[Flavor]:
        rows = await self._store.pool.fetch(f"SELECT * FROM {SCHEMA}.flavors ORDER BY vcpus, ram_mb, id")
        return [self._flavor(r) for r in rows]

    async def flavor(self, flavor_id: str, conn: db.Connection | db.Pool | None = None) -> Flavor:
        row = await (conn or self._store.pool).fetchrow(f"SELECT * FROM {SCHEMA}.flavors WHERE id = $1", flavor_id)
        if row is None:
            raise CloudNotFound(f"flavor {flavor_id} does not exist")
        return self._flavor(row)

    async def images(self) -> list[Image]:
        rows = await self._store.pool.fetch(
            f"SELECT {_IMAGE_COLUMNS} FROM {SCHEMA}.images WHERE account_id IS NULL OR account_id = $1 ORDER BY id",
            self._store.account,
        )
        now = self._store.clock()
        return [image_from_row(r, now) for r in rows]

    async def image(self, image_id: str, conn: db.Connection | db.Pool | None = None) -> Image:
        row = await (conn or self._store.pool).fetchrow(
            f"""SELECT {_IMAGE_COLUMNS} FROM {SCHEMA}.images
                WHERE id = $1 AND (account_id IS NULL OR account_id = $2)""",
            image_id,
            self._store.account,
        )
        if row is None:
            raise CloudNotFound(f"image {image_id} does not exist")
        return image_from_row(row, self._store.clock())

    async def create_image(self, instance_id: str, name: str, client_token: str) -> Image:
        if not 1 <= len(name) <= MAX_IMAGE_NAME or not name.isprintable():
            raise InvalidCloudRequest(f"an image name is 1 to {MAX_IMAGE_NAME} printable characters")
        check_client_token(client_token)
        async with self._store.writing() as conn:
            now = self._store.clock()
            made = await self._store.made_by(conn, "images", client_token)
            if made is not None:
                return made_by_token("image", image_from_row(made, now), name=name)
            state, instance = await self._store.instance_state(conn, instance_id, now)
            if state not in _IMAGEABLE:
                raise InvalidCloudState(f"cannot create an image from an instance that is {state.value}")
            taken = await conn.fetchval(
                f"SELECT 1 FROM {SCHEMA}.images WHERE account_id = $1 AND name = $2", self._store.account, name
            )
            if taken:
                raise InvalidCloudRequest(f"an image named {name!r} already exists")
            source = await conn.fetchrow(f"SELECT os FROM {SCHEMA}.images WHERE id = $1", instance["image_id"])
            flavor = await self.flavor(instance["flavor_id"], conn)
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.images
                    (id, name, os, min_disk_gb, account_id, state, target_state, due_at, created_at, source_instance_id,
                     client_token)
                    VALUES ($1, $2, $3, $4, $5, 'pending', 'available', $6, $7, $8, $9)
                    RETURNING {_IMAGE_COLUMNS}""",
                new_id("img"),
                name,
                source["os"] if source else "linux",
                flavor.disk_gb,
                self._store.account,
                now + timedelta(seconds=self._config.real_seconds(self._config.image_seconds)),
                now,
                instance_id,
                client_token,
            )
            return image_from_row(row, now)

    async def deregister_image(self, image_id: str) -> None:
        async with self._store.writing() as conn:
            owner = await conn.fetchrow(
                f"SELECT account_id FROM {SCHEMA}.images WHERE id = $1 AND (account_id IS NULL OR account_id = $2)",
                image_id,
                self._store.account,
            )
            if owner is None:
                raise CloudNotFound(f"image {image_id} does not exist")
            if owner["account_id"] is None:
                raise InvalidCloudRequest(f"image {image_id} belongs to SimCloud's public catalogue")
            await conn.execute(
                f"DELETE FROM {SCHEMA}.images WHERE id = $1 AND account_id = $2", image_id, self._store.account
            )
