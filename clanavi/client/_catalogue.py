"""What the clouds offer (their catalogues of images and flavors), and the images the project makes from its
instances."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from typing import Any

from clanavi.client._calls import Call, body, items_of, model_of, page_of, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._records import Records
from services.provisioner.resources.schemas import CustomImageOut, CustomImageState, ImageCreate
from services.provisioner.schemas import FlavorOut, ImageOut

__all__ = ["Flavors", "Images"]


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
