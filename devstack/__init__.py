"""Local PostgreSQL, RabbitMQ and OpenSSH servers for development, `make run` and the test suite."""

from devstack._private import private_dir
from devstack.libvirtd import LibvirtDaemon
from devstack.moto import MotoServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.rabbitmq import RabbitServer
from devstack.sshd import SshServer

__all__ = ["LibvirtDaemon", "MotoServer", "PostgresServer", "RabbitServer", "SshServer", "free_port", "private_dir"]
