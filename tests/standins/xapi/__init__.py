"""A local XAPI stand-in: the real XenAPI client talks XML-RPC to it (see `server`)."""

from tests.standins.xapi.server import TEMPLATES, XapiFailure, XapiStandIn, XapiState

__all__ = ["TEMPLATES", "XapiFailure", "XapiStandIn", "XapiState"]
