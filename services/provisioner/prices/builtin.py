"""SimCloud's own price list: what every SimCloud account answers until a catalog is imported for it.

The flavor prices are those of SimCloud's flavor table (`adapters/simcloud/migrations`), which a unit test holds
them to; SimCloud has no list of its own for storage and addresses, so these are round figures of the same order as
a public cloud's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.provisioner.prices.domain import Price, PriceKind, PriceList

DRIVER = "simcloud"
# Built-in prices hold from the start of time: a catalog imported later takes over from its own date on.
SINCE = datetime(1970, 1, 1, tzinfo=UTC)

FLAVORS = {
    "sim.nano": "0.0050",
    "sim.small": "0.0200",
    "sim.medium": "0.0400",
    "sim.large": "0.0800",
    "sim.xlarge": "0.1600",
}

# What an image adds to its server's hour: a Windows Server licence, as public clouds charge one.
IMAGES = {"img-windows-2022": "0.0460"}

SIMCLOUD = PriceList(
    currency="USD",
    prices=(
        *(Price(PriceKind.FLAVOR, "", flavor, Decimal(amount)) for flavor, amount in FLAVORS.items()),
        *(Price(PriceKind.IMAGE, "", image, Decimal(amount)) for image, amount in IMAGES.items()),
        Price(PriceKind.VOLUME, "", "", Decimal("0.1000")),
        Price(PriceKind.SNAPSHOT, "", "", Decimal("0.0500")),
        Price(PriceKind.ADDRESS, "", "", Decimal("0.0050")),
    ),
    source="builtin:simcloud",
)


def builtin_for(driver: str) -> PriceList | None:
    """The price list an account of this adapter module has with no catalog imported."""
    return SIMCLOUD if driver == DRIVER else None
