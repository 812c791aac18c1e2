"""What every adapter is built of: the one way a call goes to a cloud (`AdapterBase._call` / `_run`), the kit's words
for errors, and its flavors."""

from __future__ import annotations

import http.client
import ssl
import threading
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from adapters.base import (
    AdapterBase,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    InvalidCloudState,
    Throttled,
    guarded,
)
from adapters.kit import FlavorConfig, FlavorLimits, Flavors, Unanswered, Words, kinds_by_code
from adapters.libvirt import LibvirtConfig
from adapters.xcp import XcpConfig


class SdkError(Exception):
    """What a made-up SDK raises."""


class Translator:
    SDK_ERRORS: tuple[type[Exception], ...] = (SdkError,)

    def translate(self, exc: Exception, call: str, /) -> CloudError:
        return CloudNotFound(f"kit {call}: not there")


class KitAdapter(AdapterBase):
    driver: ClassVar[str] = "kit-test"
    errors = Translator()


def calls(call: str, outcome: str) -> float:
    labels = {"driver": "kit-test", "call": call, "outcome": outcome}
    return REGISTRY.get_sample_value("clanavi_cloud_call_duration_seconds_count", labels) or 0.0


async def test_a_call_is_timed_by_its_outcome_and_its_sdk_errors_become_the_contracts() -> None:
    adapter = KitAdapter()
    before_ok, before_missing = calls("fetch", "ok"), calls("fetch", "CloudNotFound")

    async def answers() -> int:
        return 7

    assert await adapter._call("fetch", answers) == 7

    original = SdkError("the other side's words")

    async def fails() -> int:
        raise original

    with pytest.raises(CloudNotFound) as caught:
        await adapter._call("fetch", fails)
    assert caught.value.__cause__ is original
    assert "the other side's words" not in str(caught.value)
    assert (calls("fetch", "ok"), calls("fetch", "CloudNotFound")) == (before_ok + 1, before_missing + 1)


async def test_contract_errors_and_bugs_pass_as_they_are() -> None:
    adapter = KitAdapter()
    before = calls("act", "unexpected")

    async def refuses() -> None:
        raise InvalidCloudState("busy")

    async def breaks() -> None:
        raise KeyError("a bug")

    with pytest.raises(InvalidCloudState):
        await adapter._call("act", refuses)
    with pytest.raises(KeyError):
        await adapter._call("act", breaks)
    assert calls("act", "unexpected") == before + 1


async def test_a_blocking_step_runs_in_a_worker_thread() -> None:
    adapter = KitAdapter()
    loop_thread = threading.get_ident()

    def step(a: int, *, b: int) -> tuple[int, int]:
        return a + b, threading.get_ident()

    total, thread = await adapter._run("step", step, 2, b=3)
    assert total == 5 and thread != loop_thread

    def fails() -> None:
        raise SdkError

    with pytest.raises(CloudNotFound):
        await adapter._run("step", fails)


def test_guarded_translates_inside_a_step() -> None:
    def fails() -> None:
        raise SdkError

    with pytest.raises(CloudNotFound):
        guarded(Translator(), "inner", fails)
    assert guarded(None, "inner", lambda: 1) == 1


def test_words_of_a_request_that_got_no_answer() -> None:
    words = Words("Acme", unanswered=((SdkError, Unanswered.CLOSED),))
    assert words.failure(SdkError()) == "the connection closed before an answer"
    assert words.failure(TimeoutError()) == "timed out"
    assert words.failure(ssl.SSLError()) == "TLS failure (handshake or certificate)"
    assert words.failure(http.client.BadStatusLine("SECRET-BANNER")) == "not an Acme endpoint (the answer is not HTTP)"
    assert words.failure(ConnectionRefusedError()) == "cannot connect to the endpoint"
    assert words.failure(ValueError("x")) == "the request failed (ValueError)"
    assert words.failure(ValueError("x"), SdkError()) == "the connection closed before an answer"
    assert (
        words.said(Unanswered.UNEXPECTED, "HTTP status 404")
        == "not an Acme endpoint (unexpected answer, HTTP status 404)"
    )
    error = words.no_answer("list", TimeoutError())
    assert type(error) is CloudUnavailable and str(error) == "Acme list: timed out"


def test_a_code_names_one_kind() -> None:
    assert kinds_by_code({CloudNotFound: ["GONE"], Throttled: ["SLOW"]}) == {"GONE": CloudNotFound, "SLOW": Throttled}
    with pytest.raises(ValueError, match="SLOW"):
        kinds_by_code({CloudNotFound: ["SLOW"], Throttled: ["SLOW"]})


LIBVIRT = {"uri": "test:///default"}
XCP = {"url": "https://xen.example", "username": "root", "password": "pw"}


@pytest.mark.parametrize(
    ("config", "account", "most_vcpus", "least_disk_gb"),
    [(LibvirtConfig, LIBVIRT, 1024, 1), (XcpConfig, XCP, 512, 0)],
)
def test_one_flavor_config_checked_against_each_hypervisors_limits(
    config: type[LibvirtConfig | XcpConfig], account: dict[str, str], most_vcpus: int, least_disk_gb: int
) -> None:
    def offering(*flavors: tuple[str, int, int]) -> dict[str, object]:
        sizes = [{"id": i, "name": i, "vcpus": vcpus, "ram_mb": 512, "disk_gb": disk} for i, vcpus, disk in flavors]
        return {**account, "flavors": sizes}

    accepted = config.model_validate(offering(("a", most_vcpus, least_disk_gb)))
    assert [type(f) for f in accepted.flavors] == [FlavorConfig]
    for refused in (
        offering(("a", most_vcpus + 1, 10)),
        offering(("a", 1, least_disk_gb - 1)),
        offering(),
        offering(("a", 1, 10), ("a", 2, 10)),
    ):
        with pytest.raises(ValidationError):
            config.model_validate(refused)


def test_flavors_are_listed_and_found() -> None:
    table = Flavors(FlavorLimits.defaults("t"))
    assert [f.id for f in table.all()] == ["t.small", "t.medium", "t.large"]
    assert table.get("t.large").vcpus == 4
    with pytest.raises(CloudNotFound):
        table.get("t.huge")
