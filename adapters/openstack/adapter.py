"""OpenStack through openstacksdk: Nova servers, flavors, key pairs and zones, Glance images.

openstacksdk is blocking: the adapter holds one `Connection` (made in a worker thread, never per call) and runs each
SDK call in a worker thread through `AdapterBase._run`, so every SDK error is translated in one place (`_errors`).
Nova has no client token: the adapter stores it in the server's metadata and looks for it before creating; so too
for volumes and snapshots (Cinder metadata), images (a Glance property) and floating IPs (their description).
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import openstack.compute.v2.server
import openstack.connection
import openstack.exceptions
import openstack.utils
import openstack.warnings

from adapters.base import (
    CLOUD_FEATURES,
    MACHINE_FEATURES,
    AdapterBase,
    Address,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    KeyPair,
    LaunchSpec,
    Page,
    Quotas,
    Region,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    Volume,
    VolumeSpec,
    Zone,
    run_in_thread,
)
from adapters.kit import made_by_token
from adapters.openstack import _errors, _mapping
from adapters.openstack.config import OpenStackConfig

# Nova rejects bigger pages (osapi_max_limit defaults to 1000).
MAX_PAGE = 1000

# The newest Nova microversion whose server records `_mapping` reads: servers are read at this one or the cloud's
# newest if older, however they are read (a launch, one server, a listing), so each reads the same fields. 2.47 and
# later embed the flavor (found in the catalogue by `FlavorCatalogue`), 2.69 and later show a server whose cell does
# not answer as UNKNOWN rather than leave it out of listings.
SERVER_MICROVERSION = "2.100"

# The microversion limits are read at: the newest that changed them (it dropped the injected files' limits).
LIMITS_MICROVERSION = "2.57"

# How long the flavor catalogue is trusted before a server's embedded flavor makes it be read again.
FLAVORS_TTL_SECONDS = 300.0


# Serialises the filter below: `warnings.catch_warnings` swaps process-wide state.
_CONSTRUCTING = threading.Lock()


def _open_connection(config: OpenStackConfig) -> Any:
    """One authenticated connection: Keystone v3 password auth scoped to the project (checked here, not later).

    openstacksdk 4.x warns about InfluxDB on every Connection even when no InfluxDB is configured (its loader always
    passes a dict of None values); that one warning is silenced here and nothing else. Without `cloud=`, the SDK
    reads no clouds.yaml and no OS_* variables: an account's settings are exactly its config.
    """
    with _CONSTRUCTING, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Support for InfluxDB requires", category=openstack.warnings.RemovedInSDK60Warning
        )
        conn = _connection(config)
    conn.authorize()
    return conn


# A private folder (made on first use, removed at exit) for the CA bundles of accounts that have one: keystoneauth
# (through requests) takes a file's path, the account holds the PEM text.
_CA_FOLDER: str | None = None
_CA_LOCK = threading.Lock()


def _ca_file(pem: str) -> str:
    """The path of a file holding `pem`, named by its digest, so each bundle is written once per process."""
    global _CA_FOLDER  # noqa: PLW0603 - made once per process
    with _CA_LOCK:
        if _CA_FOLDER is None:
            _CA_FOLDER = tempfile.mkdtemp(prefix="clanavi-openstack-ca-")
            atexit.register(shutil.rmtree, _CA_FOLDER, ignore_errors=True)
        path = os.path.join(_CA_FOLDER, hashlib.sha256(pem.encode()).hexdigest() + ".pem")
        if not os.path.exists(path):
            with tempfile.NamedTemporaryFile("w", dir=_CA_FOLDER, delete=False, suffix=".part") as part:
                part.write(pem)
            os.replace(part.name, path)
        return path


def _connection(config: OpenStackConfig) -> Any:
    return openstack.connection.Connection(
        verify=config.verify,
        cacert=_ca_file(config.cacert) if config.cacert is not None else None,
        auth_url=config.auth_url,
        username=config.username,
        password=config.password,
        project_name=config.project_name,
        user_domain_name=config.user_domain_name,
        project_domain_name=config.project_domain_name,
        region_name=config.region_name,
        identity_interface="public",
        timeout=config.timeout_seconds,
    )


class OpenStackAdapter(AdapterBase):
    driver: ClassVar[str] = "openstack"
    # Nova takes at most 65,535 characters of base64-encoded user data.
    user_data_limit: ClassVar[int] = 65535 // 4 * 3
    errors = _errors
    features: ClassVar[frozenset[Feature]] = (
        MACHINE_FEATURES | CLOUD_FEATURES | {Feature.INSTANCE_SUSPEND, Feature.QUOTAS}
    )
    config_model: ClassVar[type[OpenStackConfig]] = OpenStackConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    def __init__(self, account_id: str, config: OpenStackConfig, conn: Any) -> None:
        self.account_id = account_id
        self.config = config
        self._conn = conn
        # security group name -> id (Nova shows names); refreshed when a server names a group not in it.
        self._group_ids: dict[str, str] = {}
        # The flavor catalogue and when it was read (monotonic), refreshed when a server's flavor is not in it.
        self._flavors = _mapping.FlavorCatalogue()
        self._flavors_read_at = -math.inf
        # Flavors servers run that the catalogue no longer holds, by the name they are known by.
        self._uncatalogued: dict[str, Flavor] = {}
        # The microversion servers are read at, once Nova's version document was read (`_negotiated`).
        self._server_microversion: str | None = None
        self._negotiated = False

    @classmethod
    async def open(cls, account_id: str, config: OpenStackConfig) -> OpenStackAdapter:
        """Authenticates once against Keystone and keeps the connection for the adapter's life."""
        conn = await run_in_thread(cls.driver, cls.errors, "authenticate", _open_connection, config)
        return cls(account_id, config, conn)

    async def close(self) -> None:
        await self._run("close", self._conn.close)

    @property
    def _compute(self) -> Any:
        return self._conn.compute

    # --- regions, zones, flavors, images -----------------------------------------------------------------

    async def list_regions(self) -> Sequence[Region]:
        return [Region(id=self.config.region_name, name=self.config.region_name)]

    async def list_zones(self) -> Sequence[Zone]:
        zones = await self._run("list availability zones", lambda: list(self._compute.availability_zones()))
        return [
            Zone(
                id=str(z.name),
                region_id=self.config.region_name,
                available=bool((z.state or {}).get("available", False)),
            )
            for z in zones
        ]

    async def list_flavors(self) -> Sequence[Flavor]:
        return (await self._read_flavors()).flavors

    async def quotas(self) -> Quotas:
        """Nova's absolute limits of the project (`GET /limits`) and what it counts as used of them."""
        return _mapping.quotas_of(await self._run("read limits", self._limits_json))

    def _limits_json(self) -> dict[str, Any]:
        # Read as JSON at 2.57 (or the cloud's newest if older): openstacksdk's own resource reads the injected files'
        # limits, removed at 2.57, and warns of each.
        version = openstack.utils.maximum_supported_microversion(self._compute, LIMITS_MICROVERSION)
        response = self._compute.get("/limits", microversion=version)
        openstack.exceptions.raise_from_response(response)
        data: dict[str, Any] = response.json()
        return data

    async def _read_flavors(self, asked: frozenset[str] = frozenset()) -> _mapping.FlavorCatalogue:
        flavors = await self._run("list flavors", lambda: list(self._compute.flavors(details=True)))
        self._flavors = _mapping.FlavorCatalogue.of(flavors, asked)
        self._flavors_read_at = time.monotonic()
        return self._flavors

    async def get_flavor(self, flavor_id: str) -> Flavor:
        """A flavor by id, or by the name a server's flavor is known by when the catalogue no longer holds it."""
        try:
            return _mapping.to_flavor(await self._run("get flavor", self._compute.get_flavor, flavor_id))
        except CloudNotFound:
            catalogue = await self._read_flavors(self._flavors.missing)
            named = {f.name: f for f in catalogue.flavors}.get(flavor_id)
            found = named or self._uncatalogued.get(flavor_id)
            if found is None:
                raise
            return found

    async def list_images(self) -> Sequence[Image]:
        images = await self._run("list images", lambda: list(self._conn.image.images()))
        return [_mapping.to_image(i) for i in images]

    async def get_image(self, image_id: str) -> Image:
        return _mapping.to_image(await self._run("get image", self._conn.image.get_image, image_id))

    def _images_by_token(self, client_token: str) -> list[dict[str, Any]]:
        """Glance filters images by any property given as a query parameter; the SDK's image list knows only its
        own, so the request goes through the image proxy as is (its session, auth and errors)."""
        response = self._conn.image.get("/images", params={_mapping.TOKEN_KEY: client_token})
        openstack.exceptions.raise_from_response(response)
        images: list[dict[str, Any]] = response.json().get("images", [])
        return [i for i in images if i.get(_mapping.TOKEN_KEY) == client_token]

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        """Nova has no client token: the image is made with it as a property, and looked for first."""
        earlier = await self._run("list images", self._images_by_token, client_token)
        if earlier:
            return made_by_token("image", _mapping.to_image(earlier[0]), name=name)

        def create() -> Any:
            # The proxy's create_server_image reads the image back through the deprecated cloud layer; this does not.
            server = self._compute.get_server(instance_id)
            image_id = server.create_image(self._compute, name, {_mapping.TOKEN_KEY: client_token})
            return self._conn.image.get_image(image_id)

        return _mapping.to_image(await self._run("create image", create))

    async def deregister_image(self, image_id: str) -> None:
        await self._run("delete image", self._conn.image.delete_image, image_id, ignore_missing=False)

    # --- instances ---------------------------------------------------------------------------------------

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        """One page: asks Nova for one more than `limit` to know whether another page follows."""
        size = max(1, min(limit, MAX_PAGE - 1))

        query: dict[str, Any] = {"limit": size + 1}
        if cursor is not None:
            query["marker"] = cursor
        # One request: Nova answers at most `limit` servers (and never more than its osapi_max_limit, 1000).
        servers = await self._run("list servers", self._servers_json, query, follow=False)
        items = await self._instances(servers[:size])
        more = len(servers) > size
        return Page(items=items, next_cursor=items[-1].id if more and items else None)

    def _servers_json(self, query: Mapping[str, Any], *, follow: bool) -> list[dict[str, Any]]:
        """`GET /servers/detail` through the SDK's compute proxy (its HTTP session, auth and errors), read as JSON.

        Listings skip the SDK's Server resources: building one per server (with nested Image and Flavor resources)
        costs milliseconds each, which dominates listing thousands of servers. With `follow`, Nova's
        `servers_links` are followed to the end.
        """
        servers: list[dict[str, Any]] = []
        url: str = "/servers/detail"
        params: dict[str, Any] | None = dict(query)
        while True:
            data = self._nova_json(url, params=params)
            servers.extend(data.get("servers", []))
            links = data.get("servers_links", [])
            following = next((str(link["href"]) for link in links if link.get("rel") == "next"), None)
            if not follow or following is None:
                return servers
            url, params = following, None

    def _nova_json(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One Nova answer about servers as JSON, at the microversion servers are read at."""
        if not self._negotiated:
            # None for a Nova that names no microversions in its version document: then none is asked for.
            self._server_microversion = openstack.utils.maximum_supported_microversion(
                self._compute, SERVER_MICROVERSION
            )
            self._negotiated = True
        response = self._compute.get(url, params=params, microversion=self._server_microversion)
        openstack.exceptions.raise_from_response(response)
        data: dict[str, Any] = response.json()
        return data

    async def _all_servers(self, **query: Any) -> list[dict[str, Any]]:
        # No limit: Nova pages at its own maximum and links the next page.
        return await self._run("list servers", self._servers_json, query, follow=True)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        if not instance_ids:
            return []
        wanted = set(instance_ids)
        return await self._instances([s for s in await self._all_servers() if _mapping.server_id(s) in wanted])

    async def _instances(self, servers: Sequence[Any]) -> list[Instance]:
        """Servers as instances; Nova names their security groups, Neutron is asked for the ids of unknown names;
        a flavor Nova embeds is looked for in the catalogue, read again when it does not hold it."""
        names = {n for server in servers for n in _mapping.server_group_names(server)}
        if names - self._group_ids.keys():
            groups = await self._run("list security groups", lambda: list(self._conn.network.security_groups()))
            self._group_ids = {str(g.name): str(g.id) for g in groups}
        group_ids = dict(self._group_ids)
        refs = [_mapping.server_flavor(s) for s in servers]
        embedded = frozenset(name for name in map(_mapping.embedded_name, refs) if name)
        stale = time.monotonic() - self._flavors_read_at > FLAVORS_TTL_SECONDS
        if embedded and (stale or not all(self._flavors.knows(name) for name in embedded)):
            await self._read_flavors(embedded)
        flavors = self._flavors

        def read() -> list[Instance]:
            # Reading SDK resources is costly (each field access converts): map in the worker thread, not the loop.
            return [_mapping.to_instance(s, group_ids, flavors) for s in servers]

        instances = await self._run("read servers", read)
        known = {f.id for f in flavors.flavors}
        for ref, instance in zip(refs, instances, strict=True):
            if _mapping.embedded_name(ref) and instance.flavor_id not in known:
                self._uncatalogued[instance.flavor_id] = flavors.flavor_of(ref)
        return instances

    async def _server(self, instance_id: str) -> Instance:
        server = await self._run("get server", self._nova_json, f"/servers/{urllib.parse.quote(instance_id, safe='')}")
        return (await self._instances([server["server"]]))[0]

    async def _find_by_token(self, spec: LaunchSpec) -> Instance | None:
        servers = await self._all_servers(name=f"^{re.escape(spec.name)}$")
        for server in servers:
            if _mapping.server_metadata(server).get(_mapping.TOKEN_KEY) == spec.client_token:
                return (await self._instances([server]))[0]
        return None

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        if _mapping.TOKEN_KEY in spec.tags:
            raise InvalidCloudRequest(f"the tag {_mapping.TOKEN_KEY} is reserved for the launch's client token")
        found = await self._find_by_token(spec)
        if found is not None:
            return found
        attrs: dict[str, Any] = {
            "name": spec.name,
            "image_id": spec.image_id,
            "flavor_id": spec.flavor_id,
            "networks": self.config.network,
            "metadata": {**spec.tags, _mapping.TOKEN_KEY: spec.client_token},
        }
        if spec.key_name is not None:
            attrs["key_name"] = spec.key_name
        if spec.security_group_ids:
            attrs["security_groups"] = [{"name": g} for g in spec.security_group_ids]
        if spec.zone is not None:
            attrs["availability_zone"] = spec.zone
        if spec.user_data is not None:
            attrs["user_data"] = base64.b64encode(spec.user_data_bytes() or b"").decode()
        created = await self._run("create server", self._compute.create_server, **attrs)
        return await self._server(str(created.id))

    async def _action(self, action: str, instance_id: str, call: Callable[[Any], object]) -> Instance:
        await self._run(action, call, instance_id)
        return await self._server(instance_id)

    async def _instead(self, instance_id: str, statuses: frozenset[str]) -> bool:
        """Whether a server Nova refused an action for is in one of `statuses`, which another action answers."""
        return (await self._server(instance_id)).extra["status"] in statuses

    async def start_instance(self, instance_id: str) -> Instance:
        try:
            return await self._action("start server", instance_id, self._compute.start_server)
        except InvalidCloudState:
            # A shelved server shows stopped, and starts by being unshelved (Nova refuses os-start).
            if not await self._instead(instance_id, _mapping.SHELVED):
                raise
        return await self._action("unshelve server", instance_id, self._compute.unshelve_server)

    async def stop_instance(self, instance_id: str) -> Instance:
        return await self._action("stop server", instance_id, self._compute.stop_server)

    async def reboot_instance(self, instance_id: str) -> Instance:
        return await self._action("reboot server", instance_id, lambda s: self._compute.reboot_server(s, "SOFT"))

    async def suspend_instance(self, instance_id: str) -> Instance:
        return await self._action("suspend server", instance_id, self._compute.suspend_server)

    async def resume_instance(self, instance_id: str) -> Instance:
        try:
            return await self._action("resume server", instance_id, self._compute.resume_server)
        except InvalidCloudState:
            # A paused server shows suspended, and resumes by being unpaused (Nova refuses resume).
            if not await self._instead(instance_id, frozenset({"PAUSED"})):
                raise
        return await self._action("unpause server", instance_id, self._compute.unpause_server)

    async def terminate_instance(self, instance_id: str) -> Instance:
        before = await self._server(instance_id)
        await self._run("delete server", self._compute.delete_server, instance_id, ignore_missing=False)
        return dataclasses.replace(before, state=InstanceState.TERMINATING)

    async def console_output(self, instance_id: str) -> str:
        answer = await self._run("get console output", self._compute.get_server_console_output, instance_id)
        return str((answer or {}).get("output") or "")

    # --- key pairs ---------------------------------------------------------------------------------------

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        keys = await self._run("list key pairs", lambda: list(self._compute.keypairs()))
        return [_mapping.to_key_pair(k) for k in keys]

    async def create_key_pair(self, name: str) -> KeyPair:
        created = await self._run("create key pair", self._compute.create_keypair, name=name)
        return _mapping.to_key_pair(created, with_private_key=True)

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        created = await self._run("import key pair", self._compute.create_keypair, name=name, public_key=public_key)
        return _mapping.to_key_pair(created)

    async def delete_key_pair(self, name: str) -> None:
        await self._run("delete key pair", self._compute.delete_keypair, name, ignore_missing=False)

    # --- volumes and snapshots (Cinder; attachments through Nova) ----------------------------------------

    @property
    def _storage(self) -> Any:
        return self._conn.block_storage

    async def list_volumes(self) -> Sequence[Volume]:
        volumes = await self._run("list volumes", lambda: list(self._storage.volumes(details=True)))
        return [_mapping.to_volume(v) for v in volumes]

    async def _volume(self, volume_id: str) -> Volume:
        return _mapping.to_volume(await self._run("get volume", self._storage.get_volume, volume_id))

    def _volumes_by_token(self, client_token: str) -> list[Any]:
        # Cinder takes the metadata filter as a Python dict literal, which this JSON object is. The SDK names the
        # query parameter `properties`: given as `metadata`, it would also compare each volume's dict with this text.
        asked = json.dumps({_mapping.TOKEN_KEY: client_token})
        volumes = self._storage.volumes(details=True, properties=asked)
        return [v for v in volumes if (v.metadata or {}).get(_mapping.TOKEN_KEY) == client_token]

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        """Cinder has no client token: the volume is made with it in its metadata, and looked for first."""
        earlier = await self._run("list volumes", self._volumes_by_token, spec.client_token)
        if earlier:
            volume = _mapping.to_volume(earlier[0])
            return made_by_token("volume", volume, size_gb=spec.size_gb, snapshot_id=spec.snapshot_id)
        attrs: dict[str, Any] = {
            "name": spec.name,
            "size": spec.size_gb,
            "metadata": {_mapping.TOKEN_KEY: spec.client_token},
        }
        if spec.zone is not None:
            attrs["availability_zone"] = spec.zone
        if spec.snapshot_id is not None:
            attrs["snapshot_id"] = spec.snapshot_id
        return _mapping.to_volume(await self._run("create volume", self._storage.create_volume, **attrs))

    async def delete_volume(self, volume_id: str) -> None:
        await self._run("delete volume", self._storage.delete_volume, volume_id, ignore_missing=False)

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        attrs: dict[str, Any] = {} if device is None else {"device": device}
        await self._run("attach volume", self._compute.create_volume_attachment, instance_id, volume_id, **attrs)
        return await self._volume(volume_id)

    async def detach_volume(self, volume_id: str) -> Volume:
        volume = await self._volume(volume_id)
        if volume.instance_id is None:
            raise InvalidCloudState(f"volume {volume_id} is not attached ({volume.state.value})")
        # A typed server skips the SDK's argument-order guess (a find_server call that warns on every use).
        server = openstack.compute.v2.server.Server.new(id=volume.instance_id)
        await self._run(
            "detach volume", self._compute.delete_volume_attachment, server, volume_id, ignore_missing=False
        )
        return await self._volume(volume_id)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        snapshots = await self._run("list snapshots", lambda: list(self._storage.snapshots(details=True)))
        return [_mapping.to_snapshot(s) for s in snapshots]

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        """Cinder has no client token: the snapshot is made with it in its metadata, and looked for first among the
        volume's snapshots (the SDK cannot ask Cinder to filter snapshots by metadata)."""

        def made() -> list[Any]:
            snapshots = self._storage.snapshots(details=True, volume_id=volume_id)
            return [s for s in snapshots if (s.metadata or {}).get(_mapping.TOKEN_KEY) == client_token]

        earlier = await self._run("list snapshots", made)
        if earlier:
            return _mapping.to_snapshot(earlier[0])
        created = await self._run(
            "create snapshot",
            self._storage.create_snapshot,
            volume_id=volume_id,
            name=name,
            metadata={_mapping.TOKEN_KEY: client_token},
        )
        return _mapping.to_snapshot(created)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._run("delete snapshot", self._storage.delete_snapshot, snapshot_id, ignore_missing=False)

    # --- security groups (Neutron) -----------------------------------------------------------------------

    @property
    def _network(self) -> Any:
        return self._conn.network

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        groups = await self._run("list security groups", lambda: list(self._network.security_groups()))
        self._group_ids = {str(g.name): str(g.id) for g in groups}
        return [_mapping.to_group(g) for g in groups]

    async def _group(self, group_id: str) -> Any:
        return await self._run("get security group", self._network.get_security_group, group_id)

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        created = await self._run(
            "create security group", self._network.create_security_group, name=name, description=description
        )
        self._group_ids[str(created.name)] = str(created.id)
        return _mapping.to_group(created)

    async def delete_security_group(self, group_id: str) -> None:
        await self._run("delete security group", self._network.delete_security_group, group_id, ignore_missing=False)

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        attrs: dict[str, Any] = {
            "security_group_id": group_id,
            "direction": rule.direction,
            "ether_type": "IPv6" if ":" in rule.cidr else "IPv4",
            "remote_ip_prefix": rule.cidr,
        }
        if rule.protocol != "all":
            attrs["protocol"] = rule.protocol
        if rule.protocol in ("tcp", "udp"):
            attrs["port_range_min"] = rule.from_port
            attrs["port_range_max"] = rule.to_port
        await self._run("create security group rule", self._network.create_security_group_rule, **attrs)
        return _mapping.to_group(await self._group(group_id))

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        group = await self._group(group_id)
        matching = [r for r in group.security_group_rules or [] if _mapping.to_rule(r) == rule]
        if not matching:
            raise CloudNotFound(f"security group {group_id} has no rule {rule}")
        for found in matching:
            await self._run(
                "delete security group rule",
                self._network.delete_security_group_rule,
                found["id"],
                ignore_missing=False,
            )
        return _mapping.to_group(await self._group(group_id))

    # --- floating IPs (Neutron) --------------------------------------------------------------------------

    async def _instance_by_port(self) -> dict[str, str]:
        ports = await self._run("list ports", lambda: list(self._network.ports()))
        return {str(p.id): str(p.device_id) for p in ports if p.device_id}

    async def list_addresses(self) -> Sequence[Address]:
        ips = await self._run("list floating ips", lambda: list(self._network.ips()))
        by_port = await self._instance_by_port() if any(ip.port_id for ip in ips) else {}
        return [_mapping.to_address(ip, by_port) for ip in ips]

    async def _external_network(self) -> str:
        if self.config.floating_network is not None:
            return self.config.floating_network

        def find() -> str | None:
            for network in self._network.networks(is_router_external=True):
                return str(network.id)
            return None

        found = await self._run("find external network", find)
        if found is None:
            raise CloudNotFound("no external network to allocate floating IPs from")
        return found

    async def allocate_address(self, *, client_token: str) -> Address:
        """Neutron has no client token: the floating IP is made with it as its description, and looked for first
        (an address found this way may have been associated since: it is read as it is)."""
        description = f"{_mapping.TOKEN_KEY}:{client_token}"
        earlier = await self._run("list floating ips", lambda: list(self._network.ips(description=description)))
        for ip in earlier:
            if ip.description == description:
                by_port = await self._instance_by_port() if ip.port_id else {}
                return _mapping.to_address(ip, by_port)
        network_id = await self._external_network()
        created = await self._run(
            "allocate floating ip", self._network.create_ip, floating_network_id=network_id, description=description
        )
        return _mapping.to_address(created, {})

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        ports = await self._run("list ports", lambda: list(self._network.ports(device_id=instance_id)))
        if not ports:
            raise CloudNotFound(f"instance {instance_id} has no port to associate an address with")
        port_id = str(ports[0].id)
        updated = await self._run("associate floating ip", self._network.update_ip, address_id, port_id=port_id)
        return _mapping.to_address(updated, {port_id: instance_id})

    async def disassociate_address(self, address_id: str) -> Address:
        updated = await self._run("disassociate floating ip", self._network.update_ip, address_id, port_id=None)
        return _mapping.to_address(updated, {})

    async def release_address(self, address_id: str) -> None:
        await self._run("release floating ip", self._network.delete_ip, address_id, ignore_missing=False)
