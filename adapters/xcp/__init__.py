"""XCP-ng / XenServer through XAPI (XenAPI's XML-RPC client); see `adapter` for what is offered."""

from adapters.xcp.adapter import XcpAdapter
from adapters.xcp.config import DEFAULT_FLAVORS, XcpConfig

__all__ = ["DEFAULT_FLAVORS", "XcpAdapter", "XcpConfig"]
