"""The module registry: built-in adapter classes plus plugins found through the `clanavi.adapters` entry point group
of installed distributions (here, distributions written into a directory put on sys.path); what each class declares
is read without connecting; a module that cannot be loaded (a plugin that breaks or names no class, a built-in one
whose SDK's extra is missing) is listed as unavailable with the reason and never stops anything."""

from __future__ import annotations

import logging
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from adapters import registry
from adapters.base import AdapterBase, Feature, NoSettings
from adapters.libvirt import HotplugLibvirtAdapter, LibvirtAdapter
from adapters.registry import DRIVERS, Unavailable, UnknownDriver
from services.provisioner.clouds import domain
from services.provisioner.clouds.directory import declared_features
from services.provisioner.modules import handlers as modules
from services.provisioner.settings import ConfiguredCloud
from tests.fakes.sdks import without_sdk

REPO = Path(__file__).resolve().parents[2]


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
    secret_fields: ClassVar[frozenset[str]] = frozenset({"token"})

    @classmethod
    async def open(cls, account_id: str, config: Any) -> TinyAdapter:
        return cls()
"""

# A plugin written for the registry before it named classes: its entry point names a `connect` function.
OLD_STYLE = """
from typing import Any
from adapters.base import AdapterBase

async def connect(account_id: str, config: Any, context: Any) -> AdapterBase:
    return AdapterBase()
"""

# A class with features that is no adapter class: it has none of what the platform reads of one.
HALF = """
from adapters.base import Feature

class Half:
    features = frozenset({Feature.FLAVORS})
"""

PLUGIN_MODULES = ("clanavi_tiny", "clanavi_broken", "clanavi_old", "clanavi_half")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in PLUGIN_MODULES:
        sys.modules.pop(name, None)


def test_builtin_adapters_are_classes_of_modules_without_a_distribution() -> None:
    found = registry.modules()
    for name, builtin in DRIVERS.items():
        assert found[name] == registry.Module(name=name, target=builtin.target, source="builtin", extra=builtin.extra)
        cls = registry.adapter_class(name)
        assert f"{cls.__module__}:{cls.__name__}" == builtin.target  # type: ignore[attr-defined]
    assert registry.module("simcloud").source == "builtin"
    with pytest.raises(UnknownDriver):
        registry.adapter_class("no-such-adapter")


def test_each_builtin_extra_is_one_of_the_package_and_all_installs_every_one() -> None:
    """The extra an unavailable module names is one `pip install clanavi[...]` knows."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    named = {b.extra for b in DRIVERS.values() if b.extra is not None}
    assert named == {"ec2", "openstack", "libvirt", "xen"}
    sdks = {extra: [r.partition(">")[0] for r in extras[extra]] for extra in named}
    assert sdks == {
        "ec2": ["aioboto3"],
        "openstack": ["openstacksdk"],
        "libvirt": ["libvirt-python"],
        "xen": ["XenAPI"],
    }
    assert not {r.partition(">")[0] for r in project["dependencies"]} & {s for each in sdks.values() for s in each}
    assert extras["all"] == ["clanavi[ec2,openstack,libvirt,xen]"]


@pytest.mark.parametrize(
    ("driver", "config_model", "secret"),
    [
        ("simcloud", "SimCloudConfig", set()),
        ("ec2", "Ec2Config", {"access_key_id", "secret_access_key", "session_token"}),
        ("openstack", "OpenStackConfig", {"password"}),
        ("libvirt", "LibvirtConfig", set()),
        ("xcp", "XcpConfig", {"password"}),
    ],
)
def test_each_adapter_class_declares_its_settings_and_which_are_secret(
    driver: str, config_model: str, secret: set[str]
) -> None:
    cls = registry.adapter_class(driver)
    model: type[BaseModel] = cls.config_model
    assert model.__name__ == config_model
    assert cls.secret_fields == secret
    assert cls.secret_fields <= set(model.model_fields), "a secret field the settings do not have"
    hidden = {
        name
        for name, field in model.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    assert hidden <= cls.secret_fields, "a SecretStr setting that would be stored in the clear"
    assert domain.secret_fields(driver) == cls.secret_fields


def test_libvirt_features_follow_the_class_its_uri_is_served_by() -> None:
    """The hot-plugging variant serves QEMU and Xen hosts: an account's features say so before connecting."""
    cls = registry.adapter_class("libvirt")
    assert cls.features == LibvirtAdapter.features
    for uri in ("qemu:///system", "qemu+ssh://root@hv1.example.org/system", "xen:///system", "qemu+tls://hv2/system"):
        assert cls.features_for({"uri": uri}) == HotplugLibvirtAdapter.features
    for uri in ("test:///default", "test+unix:///default?socket=/run/l.sock", "lxc:///", "hv-alias"):
        assert cls.features_for({"uri": uri}) == LibvirtAdapter.features
    # The URI may be a secret (it carried a password), kept out of `config`: the class that does not hot-plug answers.
    assert cls.features_for({}) == LibvirtAdapter.features
    assert declared_features("libvirt", {"uri": "qemu:///system"}) == HotplugLibvirtAdapter.features
    assert declared_features("ec2", {}) == registry.adapter_class("ec2").features


async def test_an_adapter_without_settings_refuses_any() -> None:
    class Bare(AdapterBase):
        @classmethod
        async def open(cls, account_id: str, config: NoSettings) -> Bare:
            return cls()

    assert isinstance(await Bare.connect("a", {}, registry.AdapterContext(pool=None)), Bare)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        await Bare.connect("a", {"anything": 1}, registry.AdapterContext(pool=None))


def test_a_plugin_is_found_loaded_and_declares_its_features(site: Path) -> None:
    write_distribution(site, "clanavi-tiny", "1.2.3", {"tiny": "clanavi_tiny:TinyAdapter"}, {"clanavi_tiny": GOOD})
    found = registry.modules()["tiny"]
    assert (found.source, found.distribution, found.version) == ("plugin", "clanavi-tiny", "1.2.3")
    assert (found.target, found.extra) == ("clanavi_tiny:TinyAdapter", None)
    cls = registry.adapter_class("tiny")
    assert cls.__name__ == "TinyAdapter"  # type: ignore[attr-defined]
    assert declared_features("tiny") == frozenset({Feature.FLAVORS})
    assert domain.secret_fields("tiny") == frozenset({"token"})
    assert domain.split("tiny", {"token": "t0", "region": "r1"}) == ({"region": "r1"}, {"token": "t0"})
    assert ConfiguredCloud(id="t1", name="Tiny", driver="tiny").driver == "tiny"
    assert modules._availability("tiny") == (True, None)


def test_a_broken_plugin_is_listed_as_unavailable_and_never_raises(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_distribution(
        site,
        "clanavi-broken",
        "0.0.1",
        {"broken": "clanavi_broken:BrokenAdapter", "simcloud": "clanavi_broken:BrokenAdapter"},
        {"clanavi_broken": "raise RuntimeError('this plugin cannot start')\n"},
    )
    with caplog.at_level(logging.WARNING):
        found = registry.modules()
        # A plugin never replaces a built-in adapter of the same name.
        assert found["simcloud"].source == "builtin"
        assert found["broken"].source == "plugin"
        assert modules._availability("broken") == (False, "RuntimeError: this plugin cannot start")
        assert declared_features("broken") == frozenset()
    assert "ignored" in caplog.text and "cannot be loaded" in caplog.text
    assert modules._availability("simcloud") == (True, None)
    assert modules._availability("never-installed") == (False, "not installed")
    # Which of its settings are secret is unknown: all of them are kept as secrets.
    assert domain.secret_fields("broken") is None
    assert domain.split("broken", {"region": "r1"}) == ({}, {"region": "r1"})


def test_a_plugin_that_names_a_function_or_a_half_class_is_unavailable_and_says_what_to_name(site: Path) -> None:
    write_distribution(
        site,
        "clanavi-old",
        "0.1.0",
        {"old": "clanavi_old:connect", "half": "clanavi_half:Half"},
        {"clanavi_old": OLD_STYLE, "clanavi_half": HALF},
    )
    available, reason = modules._availability("old")
    assert not available and reason is not None
    assert "names the class (module:Class), not a function" in reason
    available, reason = modules._availability("half")
    assert not available
    assert reason == (
        "clanavi_half:Half lacks connect, features_for, secret_fields, config_model: an adapter class derives from "
        "adapters.base.AdapterBase"
    )


def test_a_builtin_module_whose_sdk_is_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    without_sdk(monkeypatch, "XenAPI", "adapters.xcp")
    with pytest.raises(Unavailable) as caught:
        registry.adapter_class("xcp")
    assert caught.value.extra == "xen"
    assert caught.value.reason.startswith("needs the clanavi[xen] extra: import of XenAPI halted")
    assert modules._availability("xcp") == (False, caught.value.reason)
    assert declared_features("xcp") == frozenset()
    assert domain.secret_fields("xcp") is None
    # A setting of an account of it is never shown, and never stored in the clear.
    assert domain.split("xcp", {"url": "https://x", "password": "p"}) == ({}, {"url": "https://x", "password": "p"})
    # The others are not affected.
    assert all(modules._availability(name) == (True, None) for name in DRIVERS if name != "xcp")
