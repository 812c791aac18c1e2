"""What the clouds offer (their catalogues of images and flavors), and the images the project makes from its
instances."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from clanavi.client._calls import Call, body, items_of, model_of, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._records import Records
from services.provisioner.placement.schemas import PlacementOut
from services.provisioner.prices.schemas import PriceCatalogVersionOut, PriceFormat, PricesOut
from services.provisioner.resources.schemas import CustomImageOut, CustomImageState, ImageCreate
from services.provisioner.schemas import FlavorOut, ImageOut, PlacementCreate

__all__ = ["Flavors", "Images", "Placements", "Prices"]


class Images(Records[M, CustomImageOut]):
    """`list` is the clouds' catalogue (what a launch's `image_id` takes); `custom`, `get`, `create`, `deregister`
    and `wait_for` are about the images made from the project's instances, by their Clanavi ids."""

    route, what, model = "/v1/images", "image", CustomImageOut
    ended = frozenset({"error", "deregistered"})

    @operation
    def list(self, *, cloud_id: str | None = None) -> Call[builtins.list[ImageOut]]:
        """The catalogue of one of the project's clouds, or of every enabled one."""
        return Call("GET", self.route, items_of(ImageOut), query(cloud_id=cloud_id))

    @listing
    def custom(
        self,
        *,
        cloud_id: str | None = None,
        state: CustomImageState | Collection[CustomImageState] | None = None,
        name: str | None = None,
        instance_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[CustomImageOut]:
        """The images the project made from instances."""
        filters = query(cloud_id=cloud_id, state=state, name=name, instance_id=instance_id)
        return Listing(self.route + "/custom", page_of(CustomImageOut), filters, query(sort=sort, order=order), limit)

    @operation
    def create(
        self, image: ImageCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Call[CustomImageOut]:
        """Image an instance: pending -> available; then launch it by its `provider_id`."""
        content = body(ImageCreate, image)
        return Call("POST", self.route, model_of(CustomImageOut), content=content, idempotency_key=idempotency_key)

    @operation
    def deregister(self, image_id: str) -> Call[CustomImageOut]:
        """Deregister an image the project made; repeating it is harmless."""
        return self._on("DELETE", image_id)


class Flavors(Namespace[M]):
    @operation
    def list(self, *, cloud_id: str | None = None) -> Call[builtins.list[FlavorOut]]:
        """The flavors of one of the project's clouds, or of every enabled one."""
        return Call("GET", "/v1/flavors", items_of(FlavorOut), query(cloud_id=cloud_id))


class Prices(Namespace[M]):
    """The clouds' price catalogs: the prices in force at a moment, their versions, and importing a new version."""

    @operation
    def get(
        self, cloud_id: str, *, at: datetime | None = None, kind: str | None = None, region: str | None = None
    ) -> Call[PricesOut]:
        """The account's prices in force at `at` (now when left out)."""
        return Call(
            "GET", path("/v1/clouds/{}/prices", cloud_id), model_of(PricesOut), query(at=at, kind=kind, region=region)
        )

    @operation
    def versions(self, cloud_id: str) -> Call[builtins.list[PriceCatalogVersionOut]]:
        """Every version of the account's catalog, newest first."""
        return Call("GET", path("/v1/clouds/{}/prices/versions", cloud_id), items_of(PriceCatalogVersionOut))

    @operation
    def import_file(
        self,
        cloud_id: str,
        content: bytes,
        *,
        content_type: str = "application/json",
        format: PriceFormat = "clanavi",  # noqa: A002  (the API's name)
        effective_from: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Call[PriceCatalogVersionOut]:
        """Import a price file (JSON or CSV in Clanavi's format; for EC2 an AWS offer file or Libcloud's
        pricing.json, whose empty `content` reads the one installed beside the provisioner) as a new version."""
        return Call(
            "POST",
            path("/v1/clouds/{}/prices", cloud_id),
            model_of(PriceCatalogVersionOut),
            query(format=format, effective_from=effective_from),
            content=content,
            content_type=content_type,
            idempotency_key=idempotency_key,
        )


class Placements(Namespace[M]):
    @operation
    def preview(self, asked: PlacementCreate | Mapping[str, Any]) -> Call[PlacementOut]:
        """Where the allocator would put `count` servers and why (every candidate with its score or rejection);
        nothing is launched. Raises ApiError 422 `placement_failed` when too few fit, with the candidates."""
        return Call("POST", "/v1/placements", model_of(PlacementOut), content=body(PlacementCreate, asked))
