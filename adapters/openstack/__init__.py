"""OpenStack (openstacksdk): Keystone v3, Nova, Glance; blocking SDK calls run in worker threads."""

from adapters.openstack.adapter import OpenStackAdapter
from adapters.openstack.config import OpenStackConfig

__all__ = ["OpenStackAdapter", "OpenStackConfig"]
