"""OpenStack (openstacksdk): Keystone v3, Nova, Glance; blocking SDK calls run in worker threads."""

from adapters.openstack._config import OpenStackConfig
from adapters.openstack.adapter import OpenStackAdapter, connect

__all__ = ["OpenStackAdapter", "OpenStackConfig", "connect"]
