"""libvirt's errors become the contract's, in one place."""

from __future__ import annotations

import libvirt
import pytest

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    UnsupportedOperation,
    guarded,
)
from adapters.libvirt import _errors


def libvirt_error(code: int, message: str = "it went wrong") -> libvirt.libvirtError:
    """A libvirtError as libvirt-python raises it: the error tuple of virGetLastError()."""
    error = libvirt.libvirtError(message)
    error.err = (code, libvirt.VIR_FROM_TEST, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return error


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (libvirt.VIR_ERR_NO_DOMAIN, CloudNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_VOL, CloudNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_POOL, CloudNotFound),
        (libvirt.VIR_ERR_NO_NETWORK, CloudNotFound),
        (libvirt.VIR_ERR_AUTH_FAILED, CloudAuthError),
        (libvirt.VIR_ERR_AUTH_CANCELLED, CloudAuthError),
        (libvirt.VIR_ERR_ACCESS_DENIED, CloudAuthError),
        (libvirt.VIR_ERR_OPERATION_DENIED, CloudAuthError),
        (libvirt.VIR_ERR_SYSTEM_ERROR, CloudUnavailable),
        (libvirt.VIR_ERR_RPC, CloudUnavailable),
        (libvirt.VIR_ERR_NO_CONNECT, CloudUnavailable),
        (libvirt.VIR_ERR_OPERATION_TIMEOUT, CloudUnavailable),
        (libvirt.VIR_ERR_OPERATION_INVALID, InvalidCloudState),
        (libvirt.VIR_ERR_RESOURCE_BUSY, InvalidCloudState),
        (libvirt.VIR_ERR_INVALID_ARG, InvalidCloudRequest),
        (libvirt.VIR_ERR_XML_ERROR, InvalidCloudRequest),
        (libvirt.VIR_ERR_XML_DETAIL, InvalidCloudRequest),
        (libvirt.VIR_ERR_CONFIG_UNSUPPORTED, InvalidCloudRequest),
        (libvirt.VIR_ERR_DOM_EXIST, InvalidCloudRequest),
        (libvirt.VIR_ERR_STORAGE_VOL_EXIST, InvalidCloudRequest),
    ],
)
def test_each_error_code_has_its_contract_error(code: int, expected: type[CloudError]) -> None:
    translated = _errors.translate(libvirt_error(code, "libvirt says no"), "launch_instance")
    assert type(translated) is expected
    if code in CONNECTION_FAILED:
        assert "libvirt says no" not in str(translated) and f"libvirt error {code}" in str(translated)
    else:
        assert "libvirt says no" in str(translated)


CONNECTION_FAILED = (
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_CANCELLED,
)


@pytest.mark.parametrize("code", CONNECTION_FAILED)
def test_a_failed_connection_does_not_repeat_what_the_other_side_sent(code: int) -> None:
    # libvirt quotes ssh's error output, or reads the first bytes of an HTTP answer as a packet's length.
    said = "End of file while reading data: SECRET-BANNER-1234: Input/output error"
    translated = _errors.translate(libvirt_error(code, said), "connect")
    assert "SECRET-BANNER-1234" not in str(translated)
    assert str(translated).startswith("connect: ")


def test_unsupported_by_the_driver_names_the_operation() -> None:
    translated = _errors.translate(libvirt_error(libvirt.VIR_ERR_NO_SUPPORT), "attach_volume")
    assert isinstance(translated, UnsupportedOperation)
    assert translated.driver == "libvirt"
    assert translated.operation.startswith("attach_volume")


def test_a_full_pool_is_a_quota_whatever_the_code() -> None:
    message = "internal error: Not enough free space in pool for volume 'big'"
    assert type(_errors.translate(libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, message), "x")) is QuotaExceeded
    assert type(_errors.translate(libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, message), "x")) is QuotaExceeded


def test_other_errors_keep_code_and_words_and_are_not_retried() -> None:
    translated = _errors.translate(libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, "domain 'x' not paused"), "x")
    assert type(translated) is CloudError
    assert not translated.retryable
    assert f"libvirt error {libvirt.VIR_ERR_INTERNAL_ERROR}" in str(translated)
    assert "not paused" in str(translated)


def test_retryable_only_when_the_hypervisor_is_out_of_reach() -> None:
    assert _errors.translate(libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR), "x").retryable
    assert not _errors.translate(libvirt_error(libvirt.VIR_ERR_NO_DOMAIN), "x").retryable


def test_guarded_translates_and_chains_and_lets_the_rest_through() -> None:
    original = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")

    def fails() -> None:
        raise original

    with pytest.raises(CloudNotFound) as caught:
        guarded(_errors, "get", fails)
    assert caught.value.__cause__ is original
    assert guarded(_errors, "add", lambda a, b: a + b, 2, b=3) == 5

    def breaks() -> None:
        raise KeyError("not libvirt's")

    with pytest.raises(KeyError):
        guarded(_errors, "get", breaks)


def test_code_of_is_none_for_other_exceptions() -> None:
    assert _errors.code_of(ValueError("x")) is None
    assert _errors.code_of(libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)) == libvirt.VIR_ERR_NO_DOMAIN
