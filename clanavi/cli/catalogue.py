"""`clanavi images` and `clanavi flavors`: what the clouds offer to launch, and the images the project makes from its
instances."""

from __future__ import annotations

from typing import Annotated

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter
from clanavi.cli.options import DEFAULT_TIMEOUT, Timeout, Wait
from clanavi.cli.records import Action, Kind, cloud_filters, finish, group_of
from clanavi.client.models import CustomImageOut, FlavorOut, ImageCreate, ImageOut

__all__ = ["IMAGES", "flavors", "images"]

CloudFilter = Annotated[str | None, typer.Option("--cloud", help="Of this cloud account (default: every enabled one).")]

IMAGES = Kind(
    group="images",
    what="image",
    of=lambda client: client.images,
    model=CustomImageOut,
    help="Images: the clouds' catalogues, and the images the project made from its instances.",
    filters=cloud_filters(CustomImageOut, Filter("instance_id", "--instance", "Only those made from this instance.")),
    actions=(Action("deregister", "deregistered", "Deregister images the project made (repeating it is harmless)."),),
    listing="custom",
    list_command="custom",
    list_help="The images the project made from its instances, filtered and sorted.",
)

images = group_of(IMAGES)


@command(images, "list")
def catalogue(cli: Invocation, cloud: CloudFilter = None) -> None:
    """The clouds' catalogues: the images an instance launches from (--image)."""
    with cli.client() as client:
        cli.display.records(client.images.list(cloud_id=cloud), ImageOut)


@command(images, "create")
def create(
    cli: Invocation,
    instance: Annotated[str, typer.Option("--instance", help="The Clanavi id of the instance to image.")],
    name: Annotated[str, typer.Option("--name", help="The image's name.")],
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Image an instance: pending, then available (launch it by its provider_id)."""
    asked = ImageCreate(instance_id=instance, name=name)
    with cli.client() as client:
        made = client.images.create(asked)
        finish(cli, IMAGES, client.images, [made], "available", wait=wait, timeout=timeout)


flavors = typer.Typer(help="Flavors: the sizes the clouds offer (--flavor).")


@command(flavors, "list")
def flavor_list(cli: Invocation, cloud: CloudFilter = None) -> None:
    """The flavors of one cloud account, or of every enabled one."""
    with cli.client() as client:
        cli.display.records(client.flavors.list(cloud_id=cloud), FlavorOut)
