"""Run by tests/integration/test_sdk_extras.py with the python of a venv where Clanavi is installed without some of its
extras (never imported by pytest): prints, as JSON, which cloud SDKs import there, where the `services` package came
from, every module of `kernel` and `services` (each imported), and what the registry says of each adapter module.

`--without-sdks` first makes every cloud SDK unimportable, as in an install of Clanavi with no extra at all.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from typing import Any

# The cloud SDKs the extras install, with the packages they bring that an adapter imports itself.
SDKS = ("XenAPI", "libvirt", "openstack", "keystoneauth1", "aioboto3", "aiobotocore", "botocore", "boto3")


def importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        return False
    return True


def every_module(package: str) -> list[str]:
    """Every module of the package, imported (an error fails the probe, with its trace). Migrations are scripts of
    alembic's, `__main__` a command."""
    found = []
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if ".migrations" in info.name or info.name.endswith(".__main__"):
            continue
        importlib.import_module(info.name)
        found.append(info.name)
    return found


def main() -> None:
    if "--without-sdks" in sys.argv:
        for name in SDKS:
            sys.modules[name] = None  # type: ignore[assignment]  # an import of it now fails: not installed
    sdks = {name: importable(name) for name in ("XenAPI", "libvirt", "openstack", "aioboto3")}
    imported = every_module("kernel") + every_module("services")

    import services
    from adapters import registry

    modules: dict[str, Any] = {}
    for name in registry.modules():
        try:
            cls = registry.adapter_class(name)
        except registry.Unavailable as exc:
            modules[name] = {"available": False, "reason": exc.reason, "extra": exc.extra}
        else:
            modules[name] = {"available": True, "features": sorted(cls.features)}
    print(json.dumps({"sdks": sdks, "services": services.__file__, "imported": imported, "modules": modules}))


if __name__ == "__main__":
    main()
