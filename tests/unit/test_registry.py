"""The module registry: built-in adapters plus plugins found through the `clanavi.adapters` entry point group of
installed distributions (here, distributions written into a directory put on sys.path); a broken plugin is listed
as unavailable and never stops anything."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import registry
from adapters.base import Feature
from adapters.registry import DRIVERS, UnknownDriver
from services.provisioner.clouds.directory import adapter_class, module_features
from services.provisioner.modules import handlers as modules
from services.provisioner.settings import ConfiguredCloud


def write_distribution(root: Path, name: str, version: str, points: dict[str, str], code: dict[str, str]) -> None:
    """An installed distribution as pip lays it out: its modules and a .dist-info with the entry points."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{n} = {target}\n" for n, target in points.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}")
    for module, text in code.items():
        (root / f"{module}.py").write_text(text)


GOOD = """
from __future__ import annotations
from typing import Any, ClassVar
from adapters.base import AdapterBase, Feature

class TinyAdapter(AdapterBase):
    driver: ClassVar[str] = "tiny"
    features: ClassVar[frozenset[Feature]] = frozenset({Feature.FLAVORS})

async def connect(account_id: str, config: Any, context: Any) -> TinyAdapter:
    return TinyAdapter()
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in ("clanavi_tiny", "clanavi_broken"):
        sys.modules.pop(name, None)


def test_builtin_adapters_are_modules_without_a_distribution() -> None:
    found = registry.modules()
    for name, target in DRIVERS.items():
        assert found[name] == registry.Module(name=name, target=target, source="builtin")
    assert registry.module("simcloud").source == "builtin"
    with pytest.raises(UnknownDriver):
        registry.factory("no-such-adapter")


def test_a_plugin_is_found_loaded_and_declares_its_features(site: Path) -> None:
    write_distribution(site, "clanavi-tiny", "1.2.3", {"tiny": "clanavi_tiny:connect"}, {"clanavi_tiny": GOOD})
    found = registry.modules()["tiny"]
    assert (found.source, found.distribution, found.version) == ("plugin", "clanavi-tiny", "1.2.3")
    assert found.target == "clanavi_tiny:connect"
    assert registry.factory("tiny").__module__ == "clanavi_tiny"
    cls = adapter_class("tiny")
    assert cls is not None and cls.__name__ == "TinyAdapter"
    assert module_features("tiny") == frozenset({Feature.FLAVORS})
    assert ConfiguredCloud(id="t1", name="Tiny", driver="tiny").driver == "tiny"


def test_a_broken_plugin_is_listed_as_unavailable_and_never_raises(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_distribution(
        site,
        "clanavi-broken",
        "0.0.1",
        {"broken": "clanavi_broken:connect", "simcloud": "clanavi_broken:connect"},
        {"clanavi_broken": "raise RuntimeError('this plugin cannot start')\n"},
    )
    with caplog.at_level(logging.WARNING):
        found = registry.modules()
        # A plugin never replaces a built-in adapter of the same name.
        assert found["simcloud"].source == "builtin"
        assert found["broken"].source == "plugin"
        assert modules._availability("broken") == (False, "RuntimeError: this plugin cannot start")
        assert adapter_class("broken") is None and module_features("broken") == frozenset()
    assert "ignored" in caplog.text and "cannot be loaded" in caplog.text
    assert modules._availability("simcloud") == (True, None)
    assert modules._availability("never-installed") == (False, "not installed")
