"""A local OpenStack cloud speaking the real APIs over HTTP, for openstacksdk to talk to."""

from tests.standins.openstack.server import OpenStackStandIn

__all__ = ["OpenStackStandIn"]
