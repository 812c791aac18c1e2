"""The one place where libvirt's errors become the contract's error types.

Once connected, libvirt's words are the hypervisor's and are kept. The words of a connection that failed are not:
they may quote the other side (ssh's error output, the first bytes of an answer that is not libvirt's), and an
endpoint that is not libvirt must not have its answers read back through Clanavi's. Those get a fixed description;
libvirt's exception, with all of it, is chained for the log.
"""

from __future__ import annotations

import libvirt

from adapters import base
from adapters.kit import AUTH_FAILED, kinds_by_code

DRIVER = "libvirt"

LibvirtError: type[Exception] = libvirt.libvirtError


def _code(name: str) -> int:
    # Constants a libvirt-python build may not know yet read as -1, which no error carries.
    value = getattr(libvirt, f"VIR_ERR_{name}", -1)
    return int(value)


NO_DOMAIN = _code("NO_DOMAIN")
NO_STORAGE_VOL = _code("NO_STORAGE_VOL")
NO_SUPPORT = _code("NO_SUPPORT")
INVALID_ARG = _code("INVALID_ARG")
OPERATION_INVALID = _code("OPERATION_INVALID")
OPERATION_FAILED = _code("OPERATION_FAILED")
STORAGE_VOL_EXIST = _code("STORAGE_VOL_EXIST")
DOM_EXIST = _code("DOM_EXIST")


def _codes(*names: str) -> frozenset[int]:
    return frozenset(_code(n) for n in names) - {-1}


_KINDS = kinds_by_code(
    {
        base.CloudNotFound: _codes(
            "NO_DOMAIN",
            "NO_STORAGE_VOL",
            "NO_STORAGE_POOL",
            "NO_NETWORK",
            "NO_DOMAIN_SNAPSHOT",
            "NO_DOMAIN_METADATA",
            "NO_SECRET",
            "NO_NWFILTER",
            "NO_INTERFACE",
            "NO_NODE_DEVICE",
            "NO_DOMAIN_CHECKPOINT",
            "NO_NETWORK_PORT",
        ),
        base.CloudAuthError: _codes(
            "AUTH_FAILED", "AUTH_CANCELLED", "AUTH_UNAVAILABLE", "ACCESS_DENIED", "OPERATION_DENIED"
        ),
        # The hypervisor (or the way to it) is down or too slow: trying again later may work.
        base.CloudUnavailable: _codes(
            "SYSTEM_ERROR", "RPC", "NO_CONNECT", "INVALID_CONN", "OPERATION_TIMEOUT", "AGENT_UNRESPONSIVE"
        ),
        base.InvalidCloudState: _codes("OPERATION_INVALID", "RESOURCE_BUSY", "OPERATION_ABORTED"),
        base.InvalidCloudRequest: _codes(
            "INVALID_ARG",
            "XML_ERROR",
            "XML_DETAIL",
            "XML_INVALID_SCHEMA",
            "CONFIG_UNSUPPORTED",
            "DOM_EXIST",
            "STORAGE_VOL_EXIST",
            "NETWORK_EXIST",
            "NO_NAME",
            "NO_OS",
            "OPERATION_UNSUPPORTED",
            "ARGUMENT_UNSUPPORTED",
        ),
    }
)
# Kinds that say where the fault lies whatever words come with them.
_BEFORE_WORDS = (base.CloudNotFound, base.CloudAuthError, base.CloudUnavailable)
# The connection to the hypervisor failed (or its login did): libvirt's words may quote the other side.
_CONNECTION = {
    _code("SYSTEM_ERROR"): "cannot reach the hypervisor",
    _code("RPC"): "no libvirt answer (RPC failure)",
    _code("NO_CONNECT"): "cannot connect to the hypervisor",
    _code("AUTH_FAILED"): AUTH_FAILED,
    _code("AUTH_CANCELLED"): AUTH_FAILED,
    _code("AUTH_UNAVAILABLE"): AUTH_FAILED,
}
_CONNECTION.pop(-1, None)
# Storage drivers report a full pool in words only (with VIR_ERR_INTERNAL_ERROR or OPERATION_FAILED).
_QUOTA_WORDS = ("not enough free space",)
SDK_ERRORS: tuple[type[Exception], ...] = (LibvirtError,)


def code_of(exc: BaseException) -> int | None:
    """libvirt's error number for `exc`, or None when it is not a libvirt error."""
    if not isinstance(exc, LibvirtError):
        return None
    code = exc.get_error_code()  # type: ignore[attr-defined]
    return None if code is None else int(code)


def translate(exc: Exception, operation: str) -> base.CloudError:
    """The contract's error for a libvirt error raised while doing `operation`."""
    code = code_of(exc)
    message = str(exc) or f"libvirt error {code}"
    if code in _CONNECTION:
        message = f"{operation}: {_CONNECTION[code]} (libvirt error {code})"
    kind = _KINDS.get(code) if code is not None else None
    if kind not in _BEFORE_WORDS and any(words in message.lower() for words in _QUOTA_WORDS):
        return base.QuotaExceeded(message)
    if kind is not None:
        return kind(message)
    if code == NO_SUPPORT:
        return base.UnsupportedOperation(DRIVER, f"{operation} on this hypervisor ({message})")
    return base.CloudError(f"libvirt error {code}: {message}")


def quiet() -> None:
    """Stop libvirt from printing every error on stderr; errors reach us as exceptions all the same."""
    libvirt.registerErrorHandler(_ignore, None)


def _ignore(_ctx: object, _error: object) -> None:
    return None
