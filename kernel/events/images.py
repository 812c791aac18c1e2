"""v1 events of images created from instances, published by the provisioner. `instance_id` is a Clanavi id."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _ImageEvent(EventPayload):
    image_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "image_id"


class ImageCreated(_ImageEvent):
    """The cloud started making the image; it becomes `available` when complete."""

    TYPE = "image.created"
    name: str
    instance_id: str


class ImageAvailable(_ImageEvent):
    TYPE = "image.available"


class ImageDeregistered(_ImageEvent):
    TYPE = "image.deregistered"


class ImageFailed(_ImageEvent, ActionFailure):
    TYPE = "image.failed"
