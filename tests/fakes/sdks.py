"""A cloud SDK made unimportable for one test, as in an install of Clanavi without that SDK's extra."""

from __future__ import annotations

import sys

import pytest


def without_sdk(monkeypatch: pytest.MonkeyPatch, sdk: str, adapter_package: str) -> None:
    """Importing `sdk` fails (None in sys.modules stops an import) and the adapter's modules, dropped from
    sys.modules, are imported again on their next use; `monkeypatch` puts both back after the test. An install
    without the extra for real: tests/integration/test_sdk_extras.py."""
    monkeypatch.setitem(sys.modules, sdk, None)
    for name in [m for m in sys.modules if m == adapter_package or m.startswith(f"{adapter_package}.")]:
        monkeypatch.delitem(sys.modules, name)


__all__ = ["without_sdk"]
