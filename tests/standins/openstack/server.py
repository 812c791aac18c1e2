"""A local OpenStack stand-in: Keystone v3, Nova v2.1, Glance v2, Neutron v2.0 and Cinder v3 over real HTTP.

Written from the public API references (docs.openstack.org/api-ref): the bodies, status codes and error shapes are
the documented ones, so openstacksdk runs its real code (discovery, microversions, pagination, error parsing).
State lives in memory per `OpenStackStandIn`; every request is logged as (method, path) in `requests`.
Transitions (BUILD -> ACTIVE, ACTIVE -> SHUTOFF...) complete `transition_seconds` after they start, computed on read.
Beside this module: `nova_views` (Nova's answers at each microversion), `faults` (each service's error bodies) and
`quotas` (the services' default quotas, and a rate limit in front of Nova). Tests can make builds fail (`fail_builds`),
cells stop answering (`cell_down`), Nova rate-limit (`throttle`) and quotas run out (`quotas`), as real clouds do;
tests/integration/test_openstack_standin.py holds the answers to the references' samples (tests/reference).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.standins.openstack import nova_views
from tests.standins.openstack.faults import HttpError, fault, neutron_error, nova_error
from tests.standins.openstack.nova_views import NOVA_MAX, NOVA_MIN
from tests.standins.openstack.quotas import Quotas, RateLimit

PROJECT_ID = "6f0b7c1e2d3a4b5c8d9e0f1a2b3c4d5e"
USER_ID = "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b"
REGION = "RegionOne"
ZONE = "nova"
EXTERNAL_NET = "public"
# Nova's default osapi_max_limit: no page holds more servers, whatever `limit` asks.
MAX_LIMIT = 1000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid() -> str:
    return str(uuid.uuid4())


@dataclass
class Server:
    id: str
    name: str
    # "" for a server booted from a volume.
    image_id: str
    # The flavor as it was at boot (Nova keeps its own copy in the instance).
    flavor: dict[str, Any]
    created: str
    status: str = "BUILD"
    target: str | None = "ACTIVE"
    until: float = 0.0
    key_name: str | None = None
    security_groups: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    zone: str = ZONE
    # The zone asked for at boot (2.96's pinned_availability_zone), None when Nova picked one.
    pinned_zone: str | None = None
    user_data: str | None = None
    fixed_ip: str = ""
    port_id: str = ""
    console: list[str] = field(default_factory=list)
    updated: str = ""
    launched_at: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    locked: bool = False
    locked_reason: str | None = None
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    # The image's properties at boot that Nova knows (ImageMetaProps), shown from 2.98.
    image_properties: dict[str, str] = field(default_factory=dict)
    # Set when the build failed: code, created, message and details, as Nova records an instance fault.
    fault: dict[str, Any] | None = None
    # What the build is to fail with (code, message, details), set when it was asked to fail.
    failure: dict[str, Any] | None = None
    # The server's cell does not answer: 2.69 and later show what the API database knows, earlier ones nothing.
    cell_down: bool = False

    @property
    def flavor_id(self) -> str:
        return str(self.flavor["id"])

    @property
    def hostname(self) -> str:
        """Nova's hostname for a display name (nova.utils.sanitize_hostname, simplified to what names here hold)."""
        return re.sub(r"[^\w.-]+", "-", self.name.lower()).strip("-.") or "server"


@dataclass
class Volume:
    id: str
    name: str
    size: int
    zone: str
    created: str
    snapshot_id: str | None = None
    status: str = "creating"
    target: str | None = "available"
    until: float = 0.0
    server_id: str | None = None
    device: str | None = None
    attachment_id: str | None = None
    # Nova's block device mapping of the attachment (2.89's bdm_uuid) and whether deleting the server deletes it.
    bdm_uuid: str | None = None
    delete_on_termination: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Snapshot:
    id: str
    name: str
    volume_id: str
    size: int
    created: str
    status: str = "creating"
    target: str | None = "available"
    until: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class State:
    servers: dict[str, Server] = field(default_factory=dict)
    keypairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    next_ip: int = 3
    volumes: dict[str, Volume] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    floating: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_floating: int = 10
    snapshots: dict[str, Snapshot] = field(default_factory=dict)


_FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
]


class OpenStackStandIn:
    """One in-memory cloud served on 127.0.0.1 at a free port; `start()` / `stop()` or use as a context manager."""

    def __init__(
        self,
        *,
        username: str = "demo",
        password: str = "secret",  # noqa: S107 - the stand-in's test credentials
        project_name: str = "demo",
        transition_seconds: float = 0.2,
        nova_max: tuple[int, int] = NOVA_MAX,
    ) -> None:
        self.username = username
        # The newest microversion this Nova serves: Nova's own by default, an older release's when asked.
        self.nova_max = nova_max
        self.password = password
        self.project_name = project_name
        self.transition_seconds = transition_seconds
        self._default_transition_seconds = transition_seconds
        # (method, path) of every request, in order; `queries` holds each one's query parameters alongside.
        self.requests: list[tuple[str, str]] = []
        self.queries: list[dict[str, str]] = []
        # (path, the Nova microversion the request was served at) for every compute API request.
        self.microversions: list[tuple[str, str]] = []
        self.state = State()
        # What the next builds fail with, oldest first (see `fail_builds`).
        self.build_failures: list[dict[str, Any]] = []
        self.quotas = Quotas()
        self.rate_limit = RateLimit()
        self.lock = threading.RLock()
        self.image_id = _uuid()
        self._seed()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.base}/identity/v3"

    def start(self) -> OpenStackStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openstack-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenStackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _seed(self) -> None:
        for fid, name, vcpus, ram, disk in _FLAVORS:
            self.add_flavor(fid, name, vcpus=vcpus, ram=ram, disk=disk)
        self.state.images[self.image_id] = self._image_body(self.image_id, "cirros-0.6.2-x86_64", "cirros")
        other = _uuid()
        self.state.images[other] = self._image_body(other, "ubuntu-24.04", "ubuntu")
        self.add_group("default", "Default security group")

    PRIVATE_NET = "1b2c3d4e-0000-4000-8000-00000000a001"
    PUBLIC_NET = "1b2c3d4e-0000-4000-8000-00000000b002"

    project_id = PROJECT_ID
    user_id = USER_ID

    def add_flavor(
        self,
        flavor_id: str,
        name: str,
        *,
        vcpus: int,
        ram: int,
        disk: int,
        ephemeral: int = 0,
        swap: int = 0,
        extra_specs: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A flavor in the catalogue, as Nova stores it (its answers are shaped per microversion by `nova_views`)."""
        flavor: dict[str, Any] = {
            "id": flavor_id,
            "name": name,
            "vcpus": vcpus,
            "ram": ram,
            "disk": disk,
            "OS-FLV-EXT-DATA:ephemeral": ephemeral,
            "swap": swap,
            "os-flavor-access:is_public": True,
            "extra_specs": dict(extra_specs or {}),
            "description": None,
        }
        with self.lock:
            self.state.flavors[flavor_id] = flavor
        return flavor

    def delete_flavor(self, flavor_id: str) -> None:
        """Take a flavor out of the catalogue; servers booted with it keep their copy, as in Nova."""
        with self.lock:
            del self.state.flavors[flavor_id]

    def add_group(self, name: str, description: str) -> dict[str, Any]:
        """A security group with the rules Neutron's default template gives it (security-group-default-rules): the
        default group lets in what comes from its own members and lets everything out, over IPv4 and IPv6; any
        other group only lets everything out."""
        group: dict[str, Any] = {
            "id": _uuid(),
            "name": name,
            "description": description,
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
            "stateful": True,
            "shared": False,
            "tags": [],
            "created_at": _now(),
            "updated_at": _now(),
            "revision_number": 1,
        }
        self.state.groups[group["id"]] = group
        default = name == "default"
        for ethertype in ("IPv4", "IPv6"):
            self.add_rule(group["id"], "egress", None, None, None, None, ethertype)
            if default:
                self.add_rule(group["id"], "ingress", None, None, None, None, ethertype, remote_group_id=group["id"])
        return group

    def add_rule(
        self,
        group_id: str,
        direction: str,
        protocol: str | None,
        port_min: int | None,
        port_max: int | None,
        cidr: str | None,
        ethertype: str = "IPv4",
        *,
        remote_group_id: str | None = None,
    ) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "id": _uuid(),
            "security_group_id": group_id,
            "direction": direction,
            "ethertype": ethertype,
            "protocol": protocol,
            "port_range_min": port_min,
            "port_range_max": port_max,
            "remote_ip_prefix": cidr,
            "remote_group_id": remote_group_id,
            "remote_address_group_id": None,
            "belongs_to_default_sg": self.state.groups[group_id]["name"] == "default",
            "description": "",
            "tags": [],
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
            "created_at": _now(),
            "updated_at": _now(),
            "revision_number": 0,
        }
        self.state.rules[rule["id"]] = rule
        return rule

    def _image_body(self, image_id: str, name: str, distro: str, status: str = "active") -> dict[str, Any]:
        now = _now()
        return {
            "id": image_id,
            "name": name,
            "status": status,
            "visibility": "public",
            "protected": False,
            "os_hidden": False,
            "owner": PROJECT_ID,
            "disk_format": "qcow2",
            "container_format": "bare",
            "min_disk": 1,
            "min_ram": 0,
            "size": 21430272,
            "checksum": hashlib.md5(name.encode(), usedforsecurity=False).hexdigest(),
            "os_distro": distro,
            "tags": [],
            "created_at": now,
            "updated_at": now,
            "file": f"/v2/images/{image_id}/file",
            "self": f"/v2/images/{image_id}",
            "schema": "/v2/schemas/image",
        }

    def reset(self) -> None:
        """Forget everything (servers, volumes, groups...) and the request logs; transitions take the default time."""
        with self.lock:
            self.transition_seconds = self._default_transition_seconds
            self.build_failures.clear()
            self.quotas = Quotas()
            self.rate_limit = RateLimit()
            self.state = State()
            self.requests.clear()
            self.queries.clear()
            self.microversions.clear()
            self._seed()

    # --- helpers ---------------------------------------------------------------------------------------------

    def add_servers(self, count: int, *, name_prefix: str = "bulk") -> list[str]:
        """Put `count` running servers straight into the cloud (for paging tests and benchmarks); their ids."""
        ids = []
        with self.lock:
            for _ in range(count):
                server = Server(
                    id=_uuid(),
                    name=f"{name_prefix}-{len(self.state.servers)}",
                    image_id=self.image_id,
                    flavor=dict(self.state.flavors["1"]),
                    created=_now(),
                    status="ACTIVE",
                    target=None,
                    launched_at=_now(),
                    image_properties=_image_properties(self.state.images[self.image_id]),
                    fixed_ip=f"10.0.{self.state.next_ip // 250}.{self.state.next_ip % 250 + 2}",
                    port_id=_uuid(),
                    security_groups=[g["id"] for g in self.state.groups.values() if g["name"] == "default"],
                )
                self.state.next_ip += 1
                self.state.servers[server.id] = server
                ids.append(server.id)
        return ids

    def fail_builds(self, message: str, *, code: int = 500, details: str = "", count: int = 1) -> None:
        """The next `count` servers end their build in ERROR with this fault (a scheduling failure is Nova's 500
        "No valid host was found. ..." whose details are a traceback)."""
        with self.lock:
            self.build_failures.extend({"code": code, "message": message, "details": details} for _ in range(count))

    def throttle(self, count: int, *, retry_after: int, status: int = 429) -> None:
        """Refuse the next `count` compute requests as rate-limited (an overLimit 429, or 413 as older Nova said),
        asking the client to come back in `retry_after` seconds."""
        with self.lock:
            self.rate_limit = RateLimit(remaining=count, status=status, retry_after=retry_after)

    def cell_down(self, server_id: str, down: bool = True) -> None:
        """The server's cell stops (or starts again) answering the API."""
        with self.lock:
            self.state.servers[server_id].cell_down = down

    def complete_transitions(self) -> None:
        """End every transition under way now (for tests that hold a resource mid-transition, then let it go)."""
        with self.lock:
            items: list[Server | Volume | Snapshot] = [
                *self.state.servers.values(),
                *self.state.volumes.values(),
                *self.state.snapshots.values(),
            ]
            for item in items:
                item.until = 0.0

    def settle(self, server: Server) -> None:
        if server.target is not None and time.monotonic() >= server.until:
            server.status = server.target
            server.target = None
            server.updated = _now()
            if server.launched_at is None and server.status == "ACTIVE":
                server.launched_at = server.updated
            if server.status == "ERROR" and server.failure is not None:
                server.fault = dict(server.failure, created=server.updated)
            if server.status == "ACTIVE" and not server.console:
                server.console = [f"cirros login: {server.name}", "Starting network... done", "login:"]

    def settle_volume(self, item: Volume | Snapshot) -> None:
        if item.target is not None and time.monotonic() >= item.until:
            item.status = item.target
            item.target = None
            if isinstance(item, Volume) and item.status == "available":
                item.server_id = item.device = item.attachment_id = item.bdm_uuid = None
                item.delete_on_termination = False

    def transition(self, server: Server | Volume | Snapshot, now_status: str, target: str) -> None:
        server.status = now_status
        server.target = target
        server.until = time.monotonic() + self.transition_seconds


class _Handler(BaseHTTPRequestHandler):
    owner: OpenStackStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        return None

    # --- plumbing --------------------------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise nova_error(400, "badRequest", "Malformed request body") from exc
        if not isinstance(data, dict):
            raise nova_error(400, "badRequest", "Malformed request body")
        return data

    def _send(self, status: int, body: object | None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Openstack-Request-Id", f"req-{_uuid()}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        owner = self.owner
        with owner.lock:
            owner.requests.append((method, split.path))
            owner.queries.append(query)
        extra_headers: dict[str, str] = {}
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH") else {}
            for pattern, methods in _ROUTES:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                handler = methods.get(method)
                if handler is None:
                    raise nova_error(405, "badMethod", f"{method} is not allowed on {path}")
                if not path.startswith("/identity") and not (method == "GET" and _is_version_doc(path)):
                    token = self.headers.get("X-Auth-Token")
                    if token not in owner.state.tokens:
                        raise HttpError(
                            401,
                            {
                                "error": {
                                    "code": 401,
                                    "title": "Unauthorized",
                                    "message": "The request you have made requires authentication.",
                                }
                            },
                        )
                if path.startswith("/compute/v2.1/"):
                    extra_headers = self._microversion()
                    with owner.lock:
                        owner.microversions.append((split.path, extra_headers["X-OpenStack-Nova-API-Version"]))
                        owner.rate_limit.check()
                with owner.lock:
                    status, answer, headers = handler(self, match.groupdict(), query, body)
                self._send(status, answer, {**extra_headers, **headers})
                return
            raise HttpError(404, {"itemNotFound": {"code": 404, "message": f"The resource could not be found: {path}"}})
        except HttpError as exc:
            self._send(exc.status, exc.body, {**extra_headers, **exc.headers})

    def _microversion(self) -> dict[str, str]:
        """The Nova microversion asked for (the service's entry of `OpenStack-API-Version`, else the legacy header;
        2.1 when neither names one), refused as Nova refuses it; the headers that tell which one answered."""
        asked = None
        for entry in (self.headers.get("OpenStack-API-Version") or "").split(","):
            service, _, value = entry.strip().partition(" ")
            if service.lower() == "compute" and value.strip():
                asked = value.strip()
        asked = asked or self.headers.get("X-OpenStack-Nova-API-Version")
        newest = self.owner.nova_max
        version = NOVA_MIN
        if asked is not None and asked.lower() == "latest":
            version = newest
        elif asked:
            match = re.fullmatch(r"([1-9]\d*)\.([1-9]\d*|0)", asked)
            if match is None:
                raise nova_error(
                    400,
                    "badRequest",
                    f"API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum.",
                )
            version = (int(match[1]), int(match[2]))
            if not NOVA_MIN <= version <= newest:
                # InvalidGlobalAPIVersion: a 406 is not in Fault's table, so it is a computeFault.
                raise fault(
                    406,
                    f"Version {asked} is not supported by the API. Minimum is {NOVA_MIN[0]}.{NOVA_MIN[1]} and "
                    f"maximum is {newest[0]}.{newest[1]}.",
                )
        text = f"{version[0]}.{version[1]}"
        self.microversion = version
        return {
            "OpenStack-API-Version": f"compute {text}",
            "X-OpenStack-Nova-API-Version": text,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
            "X-Compute-Request-Id": f"req-{_uuid()}",
        }

    microversion: tuple[int, int] = NOVA_MIN

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


Answer = tuple[int, object | None, dict[str, str]]
Route = Callable[[_Handler, dict[str, str], dict[str, str], dict[str, Any]], Answer]


def _is_version_doc(path: str) -> bool:
    return path in ("/compute", "/compute/v2.1", "/image", "/image/v2", "/network", "/network/v2.0", "/volume") or (
        re.fullmatch(r"/volume/v3(/[0-9a-f]+)?", path) is not None
    )


# --- Keystone ------------------------------------------------------------------------------------------------


def identity_version(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    base = h.owner.base
    return (
        200,
        {
            "version": {
                "id": "v3.14",
                "status": "stable",
                "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
            }
        },
        {},
    )


def _catalog(base: str) -> list[dict[str, Any]]:
    def service(kind: str, name: str, url: str) -> dict[str, Any]:
        return {
            "type": kind,
            "name": name,
            "id": uuid.uuid5(uuid.NAMESPACE_URL, kind).hex,
            "endpoints": [
                {
                    "id": uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{iface}").hex,
                    "interface": iface,
                    "region": REGION,
                    "region_id": REGION,
                    "url": url,
                }
                for iface in ("public", "internal")
            ],
        }

    return [
        service("identity", "keystone", f"{base}/identity"),
        service("compute", "nova", f"{base}/compute/v2.1"),
        service("image", "glance", f"{base}/image"),
        service("network", "neutron", f"{base}/network"),
        service("block-storage", "cinder", f"{base}/volume/v3/{PROJECT_ID}"),
        service("volumev3", "cinderv3", f"{base}/volume/v3/{PROJECT_ID}"),
    ]


def issue_token(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    owner = h.owner
    auth = body.get("auth", {})
    password = auth.get("identity", {}).get("password", {}).get("user", {})
    unauthorized = HttpError(
        401,
        {
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        },
    )
    if "password" not in auth.get("identity", {}).get("methods", []):
        raise unauthorized
    if password.get("name") != owner.username or password.get("password") != owner.password:
        raise unauthorized
    project = auth.get("scope", {}).get("project", {})
    if project and project.get("name", owner.project_name) != owner.project_name and project.get("id") != PROJECT_ID:
        raise unauthorized
    token = uuid.uuid4().hex
    owner.state.tokens.add(token)
    domain = {"id": "default", "name": "Default"}
    now = datetime.now(UTC)
    answer = {
        "token": {
            "methods": ["password"],
            "user": {"id": USER_ID, "name": owner.username, "domain": domain, "password_expires_at": None},
            "audit_ids": [uuid.uuid4().hex[:22]],
            "expires_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "project": {"id": PROJECT_ID, "name": owner.project_name, "domain": domain},
            "is_domain": False,
            "roles": [{"id": uuid.uuid4().hex, "name": "member"}, {"id": uuid.uuid4().hex, "name": "reader"}],
            "catalog": _catalog(owner.base),
        }
    }
    return 201, answer, {"X-Subject-Token": token}


# --- version documents ---------------------------------------------------------------------------------------


def _nova_version(owner: OpenStackStandIn) -> dict[str, Any]:
    newest = owner.nova_max
    return {
        "id": "v2.1",
        "links": [{"rel": "self", "href": f"{owner.base}/compute/v2.1/"}],
        "status": "CURRENT",
        "version": f"{newest[0]}.{newest[1]}",
        "min_version": f"{NOVA_MIN[0]}.{NOVA_MIN[1]}",
        "updated": "2013-07-23T11:33:21Z",
    }


def compute_versions(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    legacy = {
        "id": "v2.0",
        "links": [{"rel": "self", "href": f"{h.owner.base}/compute/v2/"}],
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
    }
    return 300, {"versions": [legacy, _nova_version(h.owner)]}, {}


def compute_version(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    version = _nova_version(h.owner)
    version["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
    version["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
    ]
    return 200, {"version": version}, {}


def image_versions(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    href = f"{h.owner.base}/image/v2/"
    return 300, {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}, {}


def network_versions(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    href = f"{h.owner.base}/network/v2.0/"
    return 200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}, {}


def volume_versions(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    href = f"{h.owner.base}/volume/v3/"
    version = {
        "id": "v3.0",
        "status": "CURRENT",
        "version": "3.70",
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }
    return 300, {"versions": [version]}, {}


# --- Nova ----------------------------------------------------------------------------------------------------


def _server_or_404(h: _Handler, server_id: str) -> Server:
    server = h.owner.state.servers.get(server_id)
    if server is None:
        raise nova_error(404, "itemNotFound", f"Instance {server_id} could not be found.")
    h.owner.settle(server)
    return server


# The query parameters `GET /servers` and `/servers/detail` know (schemas/servers.py's index_query_v275): from 2.75
# any other is refused.
_SERVER_QUERY = frozenset(
    """user_id project_id tenant_id launch_index image_ref image kernel_id ramdisk_id hostname key_name power_state
    vm_state task_state host node flavor reservation_id launched_at terminated_at availability_zone name display_name
    description display_description locked_by uuid root_device_name config_drive access_ip_v4 access_ip_v6
    auto_disk_config progress sort_key sort_dir all_tenants soft_deleted deleted status changes-since ip ip6
    created_at limit marker tags tags-any not-tags not-tags-any changes-before locked""".split()
)


def _check_query(h: _Handler, query: dict[str, str], known: frozenset[str], since: tuple[int, int]) -> None:
    unknown = sorted(set(query) - known)
    if unknown and h.microversion >= since:
        raise nova_error(
            400,
            "badRequest",
            f"Invalid input for query parameters {unknown[0]}. Value: {query[unknown[0]]}. Additional properties "
            f"are not allowed ('{unknown[0]}' was unexpected)",
        )


def list_servers(h: _Handler, params: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    _check_query(h, query, _SERVER_QUERY, (2, 75))
    detail = params.get("detail") is not None
    servers = sorted(h.owner.state.servers.values(), key=lambda s: (s.created, s.id), reverse=True)
    for s in servers:
        h.owner.settle(s)
    if h.microversion < (2, 69):
        servers = [s for s in servers if not s.cell_down]  # before 2.69 a cell that does not answer is skipped
    if "name" in query:
        try:
            pattern = re.compile(query["name"])
        except re.error as exc:
            raise nova_error(400, "badRequest", f"Invalid name filter {query['name']}") from exc
        servers = [s for s in servers if not s.cell_down and pattern.search(s.name)]
    if "status" in query:
        servers = [s for s in servers if s.status == query["status"].upper()]
    marker = query.get("marker")
    if marker is not None:
        ids = [s.id for s in servers]
        if marker not in ids:
            raise nova_error(400, "badRequest", f"marker [{marker}] not found")
        servers = servers[ids.index(marker) + 1 :]
    try:
        limit = int(query.get("limit", MAX_LIMIT))
    except ValueError as exc:
        raise nova_error(400, "badRequest", f"limit param must be an integer: {query['limit']}") from exc
    if limit < 0:
        raise nova_error(400, "badRequest", "limit param must be positive")
    limit = min(limit, MAX_LIMIT)  # Nova's osapi_max_limit
    page = servers[:limit]
    items = [
        nova_views.server(h.owner, s, h.microversion, show=False) if detail else _server_summary(h, s) for s in page
    ]
    answer: dict[str, Any] = {"servers": items}
    if page and len(servers) > limit:
        suffix = "/detail" if detail else ""
        answer["servers_links"] = [
            {"rel": "next", "href": f"{h.owner.base}/compute/v2.1/servers{suffix}?limit={limit}&marker={page[-1].id}"}
        ]
    return 200, answer, {}


def _server_summary(h: _Handler, s: Server) -> dict[str, Any]:
    """An item of `GET /servers` (ViewBuilder.basic)."""
    links = [
        {"rel": "self", "href": f"{h.owner.base}/compute/v2.1/servers/{s.id}"},
        {"rel": "bookmark", "href": f"{h.owner.base}/compute/servers/{s.id}"},
    ]
    if s.cell_down:
        return {"id": s.id, "status": "UNKNOWN", "links": links}
    return {"id": s.id, "name": s.name, "links": links}


def create_server(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    owner = h.owner
    spec = body.get("server")
    if not isinstance(spec, dict) or not spec.get("name"):
        raise nova_error(400, "badRequest", "Invalid input for field/attribute server.")
    if h.microversion >= (2, 37) and "networks" not in spec:
        raise nova_error(
            400, "badRequest", "Invalid input for field/attribute server. 'networks' is a required property"
        )
    image_id = spec.get("imageRef") or ""
    boot_volume = _boot_volume(h, spec)
    if boot_volume is None and image_id not in owner.state.images:
        raise nova_error(400, "badRequest", f"Invalid imageRef provided. Image {image_id} could not be found.")
    flavor_id = str(spec.get("flavorRef", ""))
    if flavor_id not in owner.state.flavors:
        raise nova_error(400, "badRequest", f"Flavor {flavor_id} could not be found.")
    key_name = spec.get("key_name")
    if key_name is not None and key_name not in owner.state.keypairs:
        raise nova_error(400, "badRequest", f"Invalid key_name provided. Key pair {key_name} could not be found.")
    asked_zone = spec.get("availability_zone")
    zone = asked_zone or ZONE
    if zone != ZONE:
        raise nova_error(400, "badRequest", f"The requested availability zone is not available: {zone}")
    user_data = spec.get("user_data")
    if user_data is not None:
        # Nova's schema (nova/api/openstack/compute/schemas/servers.py): base64, at most 65,535 characters.
        if len(user_data) > 65535:
            raise nova_error(400, "badRequest", "Invalid input for field/attribute user_data.")
        try:
            base64.b64decode(user_data, validate=True)
        except ValueError as exc:
            raise nova_error(400, "badRequest", "User data needs to be valid base 64.") from exc
    metadata = spec.get("metadata") or {}
    if not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 255 for k, v in metadata.items()):
        raise nova_error(400, "badRequest", "Invalid input for field/attribute metadata.")
    groups = []
    for asked in spec.get("security_groups") or [{"name": "default"}]:
        ref = asked.get("name")
        found = owner.state.groups.get(ref) or next((g for g in owner.state.groups.values() if g["name"] == ref), None)
        if found is None:
            raise nova_error(400, "badRequest", f"Security group {ref} not found for project {PROJECT_ID}.")
        groups.append(found["id"])
    hints = body.get("OS-SCH-HNT:scheduler_hints") or body.get("os:scheduler_hints") or {}
    running = list(owner.state.servers.values())
    owner.quotas.check_server(
        len(running),
        sum(s.flavor["vcpus"] for s in running),
        sum(s.flavor["ram"] for s in running),
        owner.state.flavors[flavor_id],
        len(metadata),
    )
    server = Server(
        id=_uuid(),
        name=spec["name"],
        image_id="" if boot_volume is not None else image_id,
        flavor=dict(owner.state.flavors[flavor_id]),
        created=_now(),
        key_name=key_name,
        security_groups=groups,
        metadata=dict(metadata),
        zone=zone,
        pinned_zone=asked_zone,
        user_data=user_data,
        fixed_ip=f"10.0.0.{owner.state.next_ip}",
        port_id=_uuid(),
        description=spec.get("description") if h.microversion >= (2, 19) else None,
        tags=list(spec.get("tags") or []) if h.microversion >= (2, 52) else [],
        scheduler_hints=dict(hints),
        image_properties={} if boot_volume is not None else _image_properties(owner.state.images[image_id]),
    )
    server.updated = server.created
    owner.state.next_ip += 1
    failure = owner.build_failures.pop(0) if owner.build_failures else None
    owner.transition(server, "BUILD", "ACTIVE" if failure is None else "ERROR")
    server.failure = failure
    owner.state.servers[server.id] = server
    if boot_volume is not None:
        boot_volume.server_id, boot_volume.device = server.id, "/dev/vda"
        boot_volume.attachment_id, boot_volume.bdm_uuid = _uuid(), _uuid()
        boot_volume.delete_on_termination = bool(spec["block_device_mapping_v2"][0].get("delete_on_termination"))
        owner.transition(boot_volume, "attaching", "in-use")
    answer = {
        "server": {
            "id": server.id,
            "links": [
                {"rel": "self", "href": f"{owner.base}/compute/v2.1/servers/{server.id}"},
                {"rel": "bookmark", "href": f"{owner.base}/compute/servers/{server.id}"},
            ],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": owner.state.groups[g]["name"]} for g in groups],
            "adminPass": uuid.uuid4().hex[:12],
        }
    }
    return 202, answer, {"Location": f"{owner.base}/compute/v2.1/servers/{server.id}"}


def _image_properties(image: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in image.items() if k in nova_views.IMAGE_META_PROPS and v is not None}


def _boot_volume(h: _Handler, spec: dict[str, Any]) -> Volume | None:
    """The volume a server boots from (block_device_mapping_v2's boot_index 0 of source and destination volume)."""
    mappings = spec.get("block_device_mapping_v2") or []
    boot = next((m for m in mappings if str(m.get("boot_index")) == "0"), None)
    if boot is None:
        return None
    if (boot.get("source_type"), boot.get("destination_type")) != ("volume", "volume"):
        raise nova_error(
            400, "badRequest", "Block Device Mapping is Invalid: the stand-in boots existing volumes only."
        )
    volume = h.owner.state.volumes.get(str(boot.get("uuid")))
    if volume is None:
        raise nova_error(
            400, "badRequest", f"Block Device Mapping is Invalid: failed to get volume {boot.get('uuid')}."
        )
    h.owner.settle_volume(volume)
    if volume.status != "available":
        raise nova_error(
            400,
            "badRequest",
            f"Invalid volume: volume {volume.id} status must be 'available'. Currently in '{volume.status}'",
        )
    return volume


def get_server(h: _Handler, params: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    _check_query(h, query, frozenset(), (2, 102))
    server = h.owner.state.servers.get(params["id"])
    if server is not None and server.cell_down and h.microversion < (2, 69):
        raise fault(
            500,
            "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the "
            "Nova API log if possible.\n<class 'nova.exception.NovaException'>",
        )
    return 200, {"server": nova_views.server(h.owner, _server_or_404(h, params["id"]), h.microversion, show=True)}, {}


def delete_server(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    server = _server_or_404(h, params["id"])
    del h.owner.state.servers[server.id]
    for floating in h.owner.state.floating.values():
        if floating["port_id"] == server.port_id:
            floating.update(port_id=None, fixed_ip_address=None, status="DOWN")
    for volume in list(h.owner.state.volumes.values()):
        if volume.server_id == server.id:
            if volume.delete_on_termination:
                del h.owner.state.volumes[volume.id]
                continue
            volume.status, volume.target = "available", None
            volume.server_id = volume.device = volume.attachment_id = volume.bdm_uuid = None
    return 204, None, {}


def _conflict(server: Server, action: str) -> HttpError:
    vm_state = nova_views.VM_STATES.get(server.status, ("active", None, 1))[0]
    return nova_error(
        409,
        "conflictingRequest",
        f"Cannot '{action}' instance {server.id} while it is in vm_state {vm_state}",
    )


def server_action(h: _Handler, params: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    owner = h.owner
    server = _server_or_404(h, params["id"])
    if len(body) != 1:
        raise nova_error(400, "badRequest", "There is no such action")
    action, args = next(iter(body.items()))
    busy = server.target is not None
    if action == "os-start":
        if busy or server.status != "SHUTOFF":
            raise _conflict(server, "start")
        owner.transition(server, "SHUTOFF", "ACTIVE")
        return 202, None, {}
    if action == "os-stop":
        if busy or server.status not in ("ACTIVE", "ERROR"):
            raise _conflict(server, "stop")
        owner.transition(server, "ACTIVE", "SHUTOFF")
        return 202, None, {}
    if action == "reboot":
        kind = (args or {}).get("type", "SOFT")
        if kind not in ("SOFT", "HARD"):
            raise nova_error(400, "badRequest", f"Invalid input for field/attribute type. Value: {kind}")
        if server.status != "ACTIVE" or busy:
            raise _conflict(server, "reboot")
        owner.transition(server, "REBOOT" if kind == "SOFT" else "HARD_REBOOT", "ACTIVE")
        server.console.append("reboot: Restarting system")
        return 202, None, {}
    if action == "suspend":
        if server.status != "ACTIVE" or busy:
            raise _conflict(server, "suspend")
        owner.transition(server, "ACTIVE", "SUSPENDED")
        return 202, None, {}
    if action == "resume":
        if server.status != "SUSPENDED" or busy:
            raise _conflict(server, "resume")
        owner.transition(server, "SUSPENDED", "ACTIVE")
        return 202, None, {}
    if action == "pause":
        if server.status != "ACTIVE" or busy:
            raise _conflict(server, "pause")
        owner.transition(server, "ACTIVE", "PAUSED")
        return 202, None, {}
    if action == "unpause":
        if server.status != "PAUSED" or busy:
            raise _conflict(server, "unpause")
        owner.transition(server, "PAUSED", "ACTIVE")
        return 202, None, {}
    if action == "shelve":
        # shelved_offload_time is 0 by default: a shelved server leaves its host at once.
        if server.status not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED") or busy:
            raise _conflict(server, "shelve")
        owner.transition(server, server.status, "SHELVED_OFFLOADED")
        return 202, None, {}
    if action == "unshelve":
        if server.status not in ("SHELVED", "SHELVED_OFFLOADED") or busy:
            raise _conflict(server, "unshelve")
        owner.transition(server, server.status, "ACTIVE")
        return 202, None, {}
    if action == "os-getConsoleOutput":
        if server.status == "BUILD":
            raise _conflict(server, "os-getConsoleOutput")
        length = (args or {}).get("length")
        lines = server.console if length in (None, -1) else server.console[-int(length) :]
        return 200, {"output": "\n".join(lines) + "\n"}, {}
    if action == "createImage":
        name = (args or {}).get("name")
        if not name:
            raise nova_error(400, "badRequest", "Invalid input for field/attribute name.")
        metadata = (args or {}).get("metadata", {})
        if not _nova_metadata(metadata):
            raise nova_error(400, "badRequest", "Invalid input for field/attribute metadata.")
        image_id = _uuid()
        # Glance keeps the metadata as the image's own properties, beside what Nova records of the server.
        image = {**metadata, **owner._image_body(image_id, name, "cirros", status="active")}
        image["instance_uuid"] = server.id
        image["image_type"] = "snapshot"
        image["visibility"] = "private"
        owner.state.images[image_id] = image
        headers = {"Location": f"{owner.base}/image/v2/images/{image_id}"}
        return 202, ({"image_id": image_id} if h.microversion >= (2, 45) else None), headers
    raise nova_error(400, "badRequest", "There is no such action: " + str(action))


# Nova's schema for metadata (parameter_types.metadata): keys of these characters, string values.
_NOVA_METADATA_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")


def _nova_metadata(metadata: Any) -> bool:
    return isinstance(metadata, dict) and all(
        isinstance(k, str) and _NOVA_METADATA_KEY.match(k) and isinstance(v, str) and len(v) <= 255
        for k, v in metadata.items()
    )


def list_flavors(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    detail = params.get("detail") is not None
    flavors = sorted(h.owner.state.flavors.values(), key=lambda f: (f["ram"], f["id"]))
    return 200, {"flavors": [nova_views.flavor(h.owner, f, h.microversion, detail=detail) for f in flavors]}, {}


def get_flavor(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    flavor = h.owner.state.flavors.get(params["id"])
    if flavor is None:
        raise nova_error(404, "itemNotFound", f"Flavor {params['id']} could not be found.")
    return 200, {"flavor": nova_views.flavor(h.owner, flavor, h.microversion, detail=True)}, {}


def availability_zones(_h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    return 200, {"availabilityZoneInfo": [{"zoneName": ZONE, "zoneState": {"available": True}, "hosts": None}]}, {}


def limits(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    """Nova's `GET /limits` (nova/api/openstack/compute/views/limits.py): each quota under its names, then what is
    used; 2.36 drops the network proxies' (floating IPs, security groups and rules), 2.39 `maxImageMeta`, 2.57 the
    injected files'. Nova's network quotas were nova-network's, unlimited (-1) with Neutron, and it counts none of
    their use; server groups are not kept here, so none are used."""
    q, servers = h.owner.quotas, list(h.owner.state.servers.values())
    quotas: dict[str, tuple[int, int | None]] = {
        "ram": (q.ram, sum(s.flavor["ram"] for s in servers)),
        "instances": (q.instances, len(servers)),
        "cores": (q.cores, sum(s.flavor["vcpus"] for s in servers)),
        "key_pairs": (q.key_pairs, None),
        "floating_ips": (-1, 0),
        "metadata_items": (q.metadata_items, None),
        "injected_files": (5, None),
        "injected_file_content_bytes": (10240, None),
        "security_groups": (-1, 0),
        "security_group_rules": (-1, None),
        "server_groups": (10, 0),
        "server_group_members": (10, None),
    }
    filtered: set[str] = set()
    if h.microversion >= (2, 36):
        filtered |= {"floating_ips", "security_groups", "security_group_rules"}
    if h.microversion >= (2, 57):
        filtered |= {"injected_files", "injected_file_content_bytes"}
    names = {
        "ram": ["maxTotalRAMSize"],
        "instances": ["maxTotalInstances"],
        "cores": ["maxTotalCores"],
        "key_pairs": ["maxTotalKeypairs"],
        "floating_ips": ["maxTotalFloatingIps"],
        "metadata_items": ["maxServerMeta"] + ([] if h.microversion >= (2, 39) else ["maxImageMeta"]),
        "injected_files": ["maxPersonality"],
        "injected_file_content_bytes": ["maxPersonalitySize"],
        "security_groups": ["maxSecurityGroups"],
        "security_group_rules": ["maxSecurityGroupRules"],
        "server_groups": ["maxServerGroups"],
        "server_group_members": ["maxServerGroupMembers"],
    }
    used_names = {
        "ram": "totalRAMUsed",
        "cores": "totalCoresUsed",
        "instances": "totalInstancesUsed",
        "floating_ips": "totalFloatingIpsUsed",
        "security_groups": "totalSecurityGroupsUsed",
        "server_groups": "totalServerGroupsUsed",
    }
    absolute: dict[str, int] = {}
    for quota, (limit, _) in quotas.items():
        if quota not in filtered:
            absolute.update(dict.fromkeys(names[quota], limit))
    for quota, (_, used) in quotas.items():
        if quota in used_names and quota not in filtered and used is not None:
            absolute[used_names[quota]] = used
    return 200, {"limits": {"rate": [], "absolute": absolute}}, {}


def _fingerprint(public_key: str) -> str:
    parts = public_key.split()
    if len(parts) < 2:
        raise nova_error(400, "badRequest", "Keypair data is invalid: failed to generate fingerprint")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError as exc:
        raise nova_error(400, "badRequest", "Keypair data is invalid: failed to generate fingerprint") from exc
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


# nova/api/openstack/compute/views/keypairs.py: what each answer holds ("type" from 2.2).
_KEYPAIR_INDEX = ("name", "public_key", "fingerprint")
_KEYPAIR_CREATE = (*_KEYPAIR_INDEX, "user_id")
_KEYPAIR_SHOW = (*_KEYPAIR_CREATE, "created_at", "deleted", "deleted_at", "id", "updated_at")


def _keypair_view(h: _Handler, kp: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    shown = (*fields, "type") if h.microversion >= (2, 2) else fields
    return {k: kp[k] for k in shown}


def list_keypairs(h: _Handler, _p: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    keys = [{"keypair": _keypair_view(h, kp, _KEYPAIR_INDEX)} for kp in h.owner.state.keypairs.values()]
    return 200, {"keypairs": keys}, {}


def get_keypair(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    kp = h.owner.state.keypairs.get(params["name"])
    if kp is None:
        raise nova_error(404, "itemNotFound", f"Keypair {params['name']} not found for user {USER_ID}")
    return 200, {"keypair": _keypair_view(h, kp, _KEYPAIR_SHOW)}, {}


def create_keypair(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("keypair") or {}
    name = spec.get("name")
    # 2.92 allows "@" and "." in names, and no longer makes a key pair: the public key is required.
    allowed = r"[_\-@. a-zA-Z0-9]{1,255}" if h.microversion >= (2, 92) else r"[_\- a-zA-Z0-9]{1,255}"
    if not isinstance(name, str) or not re.fullmatch(allowed, name) or not name.strip():
        raise nova_error(400, "badRequest", f"Invalid input for field/attribute name. Value: {name}.")
    key_type = spec.get("type", "ssh") if h.microversion >= (2, 2) else "ssh"
    if key_type not in ("ssh", "x509"):
        raise nova_error(400, "badRequest", f"Invalid input for field/attribute type. Value: {key_type}.")
    public_key = spec.get("public_key")
    if public_key is None and h.microversion >= (2, 92):
        raise nova_error(
            400,
            "badRequest",
            "Invalid input for field/attribute keypair. Value: {}. 'public_key' is a required property",
        )
    if name in h.owner.state.keypairs:
        raise nova_error(409, "conflictingRequest", f"Key pair '{name}' already exists.")
    h.owner.quotas.check_key_pair(len(h.owner.state.keypairs))
    private_key = None
    if public_key is None:
        key = ed25519.Ed25519PrivateKey.generate()
        private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        public_key = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        public_key = public_key.decode() + " Generated-by-Nova"
    kp = {
        "name": name,
        "public_key": public_key,
        "fingerprint": _fingerprint(public_key),
        "type": key_type,
        "user_id": USER_ID,
        "created_at": _now(),
        "deleted": False,
        "deleted_at": None,
        "updated_at": None,
        "id": len(h.owner.state.keypairs) + 1,
    }
    h.owner.state.keypairs[name] = kp
    answer = _keypair_view(h, kp, _KEYPAIR_CREATE)
    if private_key is not None:
        answer["private_key"] = private_key
    return (201 if h.microversion >= (2, 2) else 200), {"keypair": answer}, {}


def delete_keypair(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    if h.owner.state.keypairs.pop(params["name"], None) is None:
        raise nova_error(404, "itemNotFound", f"Keypair {params['name']} not found for user {USER_ID}")
    return (204 if h.microversion >= (2, 2) else 202), None, {}


# --- Glance --------------------------------------------------------------------------------------------------


def _glance_404(image_id: str) -> HttpError:
    return HttpError(404, {"code": 404, "title": "Not Found", "message": f"No image found with ID {image_id}"})


# Glance's list parameters that are not filters; every other one filters, on an image field or property alike.
_GLANCE_NOT_FILTERS = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir", "member_status"})


def _glance_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def list_images(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    images = sorted(h.owner.state.images.values(), key=lambda i: (i["created_at"], i["id"]), reverse=True)
    for key, wanted in query.items():
        if key not in _GLANCE_NOT_FILTERS:
            images = [i for i in images if key in i and _glance_text(i[key]) == wanted]
    marker = query.get("marker")
    if marker is not None:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise HttpError(400, {"code": 400, "title": "Bad Request", "message": f"marker {marker} not found"})
        images = images[ids.index(marker) + 1 :]
    limit = int(query.get("limit", 25))
    page = images[:limit]
    answer: dict[str, Any] = {"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if len(images) > limit:
        answer["next"] = f"/v2/images?marker={page[-1]['id']}&limit={limit}"
    return 200, answer, {}


def get_image(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    image = h.owner.state.images.get(params["id"])
    if image is None:
        raise _glance_404(params["id"])
    return 200, image, {}


def delete_image(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    if h.owner.state.images.pop(params["id"], None) is None:
        raise _glance_404(params["id"])
    return 204, None, {}


# --- Cinder --------------------------------------------------------------------------------------------------


def _cinder_404(kind: str, item_id: str) -> HttpError:
    return HttpError(404, {"itemNotFound": {"code": 404, "message": f"{kind} {item_id} could not be found."}})


def _cinder_400(message: str) -> HttpError:
    return HttpError(400, {"badRequest": {"code": 400, "message": message}})


def _volume_or_404(h: _Handler, volume_id: str) -> Volume:
    volume = h.owner.state.volumes.get(volume_id)
    if volume is None:
        raise _cinder_404("Volume", volume_id)
    h.owner.settle_volume(volume)
    return volume


def _volume_body(h: _Handler, v: Volume) -> dict[str, Any]:
    attachments = []
    if v.server_id is not None and v.status in ("in-use", "detaching"):
        attachments.append(
            {
                "id": v.id,
                "attachment_id": v.attachment_id,
                "volume_id": v.id,
                "server_id": v.server_id,
                "host_name": None,
                "device": v.device,
                "attached_at": v.created,
            }
        )
    return {
        "id": v.id,
        "name": v.name,
        "size": v.size,
        "status": v.status,
        "availability_zone": v.zone,
        "created_at": v.created,
        "updated_at": _now(),
        "attachments": attachments,
        "bootable": "false",
        "encrypted": False,
        "multiattach": False,
        "snapshot_id": v.snapshot_id,
        "source_volid": None,
        "volume_type": "lvmdriver-1",
        "description": None,
        "metadata": dict(v.metadata),
        "user_id": USER_ID,
        "os-vol-tenant-attr:tenant_id": PROJECT_ID,
        "links": [{"rel": "self", "href": f"{h.owner.base}/volume/v3/{PROJECT_ID}/volumes/{v.id}"}],
    }


def _cinder_metadata(metadata: Any) -> bool:
    return isinstance(metadata, dict) and all(
        isinstance(k, str) and 0 < len(k) <= 255 and isinstance(v, str) and len(v) <= 255 for k, v in metadata.items()
    )


def _metadata_filter(query: dict[str, str]) -> dict[str, Any] | None:
    """Cinder's `metadata` filter: a dict literal read with ast.literal_eval; anything else matches nothing."""
    try:
        wanted = ast.literal_eval(query["metadata"])
    except (ValueError, SyntaxError):
        return None
    return wanted if isinstance(wanted, dict) else None


def list_volumes(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    volumes = sorted(h.owner.state.volumes.values(), key=lambda v: (v.created, v.id), reverse=True)
    for v in volumes:
        h.owner.settle_volume(v)
    if "metadata" in query:
        wanted = _metadata_filter(query)
        volumes = [v for v in volumes if wanted is not None and wanted.items() <= v.metadata.items()]
    return 200, {"volumes": [_volume_body(h, v) for v in volumes]}, {}


def create_volume(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("volume")
    if not isinstance(spec, dict):
        raise _cinder_400("Missing required element 'volume' in request body.")
    snapshot_id = spec.get("snapshot_id")
    size = spec.get("size")
    if snapshot_id is not None:
        snapshot = h.owner.state.snapshots.get(snapshot_id)
        if snapshot is None:
            raise _cinder_404("Snapshot", snapshot_id)
        h.owner.settle_volume(snapshot)
        if snapshot.status != "available":
            raise _cinder_400("Invalid snapshot: Originating snapshot status must be one of 'available' values")
        size = size or snapshot.size
        if int(size) < snapshot.size:
            raise _cinder_400("Invalid input received: Volume size cannot be lesser than the snapshot size.")
    if not isinstance(size, int) or size < 1:
        raise _cinder_400(f"Invalid input received: 'size' parameter must be an integer greater than 0 ({size}).")
    zone = spec.get("availability_zone") or ZONE
    if zone != ZONE:
        raise _cinder_400(f"Invalid input received: Availability zone '{zone}' is invalid.")
    h.owner.quotas.check_volume(len(h.owner.state.volumes), _gigabytes(h), size)
    metadata = spec.get("metadata") or {}
    if not _cinder_metadata(metadata):
        raise _cinder_400("Invalid input for field/attribute metadata.")
    volume = Volume(
        id=_uuid(),
        name=spec.get("name") or "",
        size=size,
        zone=zone,
        created=_now(),
        snapshot_id=snapshot_id,
        metadata=dict(metadata),
    )
    h.owner.transition(volume, "creating", "available")
    h.owner.state.volumes[volume.id] = volume
    return 202, {"volume": _volume_body(h, volume)}, {}


def _gigabytes(h: _Handler) -> int:
    """Cinder's `gigabytes` in use: volumes and, by default (no_snapshot_gb_quota false), snapshots."""
    state = h.owner.state
    return sum(v.size for v in state.volumes.values()) + sum(s.size for s in state.snapshots.values())


def get_volume(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    return 200, {"volume": _volume_body(h, _volume_or_404(h, params["id"]))}, {}


def delete_volume(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    volume = _volume_or_404(h, params["id"])
    if volume.status not in ("available", "error"):
        raise _cinder_400(
            "Invalid volume: Volume status must be available or error or error_restoring or error_extending or "
            f"error_managing and must not be migrating, attached, belong to a group, have snapshots or be "
            f"disassociated from snapshots after volume transfer. (status {volume.status})"
        )
    if any(s.volume_id == volume.id for s in h.owner.state.snapshots.values()):
        raise _cinder_400("Invalid volume: Volume still has 1 dependent snapshots.")
    del h.owner.state.volumes[volume.id]
    return 202, None, {}


def _snapshot_body(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "volume_id": s.volume_id,
        "size": s.size,
        "status": s.status,
        "created_at": s.created,
        "updated_at": _now(),
        "description": None,
        "metadata": dict(s.metadata),
    }


def list_snapshots(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    snapshots = sorted(h.owner.state.snapshots.values(), key=lambda s: (s.created, s.id), reverse=True)
    for s in snapshots:
        h.owner.settle_volume(s)
    if "volume_id" in query:
        snapshots = [s for s in snapshots if s.volume_id == query["volume_id"]]
    return 200, {"snapshots": [_snapshot_body(s) for s in snapshots]}, {}


def create_snapshot(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("snapshot")
    if not isinstance(spec, dict) or not spec.get("volume_id"):
        raise _cinder_400("Missing required element 'snapshot' in request body.")
    volume = _volume_or_404(h, spec["volume_id"])
    force = str(spec.get("force", False)).lower() == "true"
    if volume.status != "available" and not (force and volume.status == "in-use"):
        raise _cinder_400(
            f"Invalid volume: Volume {volume.id} status must be available, but current status is: {volume.status}."
        )
    h.owner.quotas.check_snapshot(len(h.owner.state.snapshots), _gigabytes(h), volume.size)
    metadata = spec.get("metadata") or {}
    if not _cinder_metadata(metadata):
        raise _cinder_400("Invalid input for field/attribute metadata.")
    snapshot = Snapshot(
        id=_uuid(),
        name=spec.get("name") or "",
        volume_id=volume.id,
        size=volume.size,
        created=_now(),
        metadata=dict(metadata),
    )
    h.owner.transition(snapshot, "creating", "available")
    h.owner.state.snapshots[snapshot.id] = snapshot
    return 202, {"snapshot": _snapshot_body(snapshot)}, {}


def get_snapshot(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    snapshot = h.owner.state.snapshots.get(params["id"])
    if snapshot is None:
        raise _cinder_404("Snapshot", params["id"])
    h.owner.settle_volume(snapshot)
    return 200, {"snapshot": _snapshot_body(snapshot)}, {}


def delete_snapshot(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    snapshot = h.owner.state.snapshots.get(params["id"])
    if snapshot is None:
        raise _cinder_404("Snapshot", params["id"])
    h.owner.settle_volume(snapshot)
    if snapshot.status not in ("available", "error"):
        raise _cinder_400("Invalid snapshot: Volume Snapshot status must be available or error.")
    del h.owner.state.snapshots[snapshot.id]
    return 202, None, {}


# --- Nova volume attachments ---------------------------------------------------------------------------------


def list_attachments(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    server = _server_or_404(h, params["id"])
    attached = [v for v in h.owner.state.volumes.values() if v.server_id == server.id]
    return 200, {"volumeAttachments": [nova_views.attachment(v, h.microversion) for v in attached]}, {}


def attach_volume(h: _Handler, params: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    server = _server_or_404(h, params["id"])
    spec = body.get("volumeAttachment")
    if not isinstance(spec, dict) or not spec.get("volumeId"):
        raise nova_error(400, "badRequest", "Invalid input for field/attribute volumeAttachment.")
    volume = h.owner.state.volumes.get(spec["volumeId"])
    if volume is None:
        raise nova_error(404, "itemNotFound", f"Volume {spec['volumeId']} could not be found.")
    h.owner.settle_volume(volume)
    if server.status not in ("ACTIVE", "SHUTOFF") or server.target is not None:
        raise _conflict(server, "attach_volume")
    if volume.status != "available":
        raise nova_error(
            400,
            "badRequest",
            f"Invalid volume: volume {volume.id} status must be 'available'. Currently in '{volume.status}'",
        )
    used = {v.device for v in h.owner.state.volumes.values() if v.server_id == server.id}
    device = spec.get("device") or next(f"/dev/vd{c}" for c in "bcdefghijklmnop" if f"/dev/vd{c}" not in used)
    volume.server_id, volume.device, volume.attachment_id, volume.bdm_uuid = server.id, device, _uuid(), _uuid()
    volume.delete_on_termination = bool(spec.get("delete_on_termination")) if h.microversion >= (2, 79) else False
    h.owner.transition(volume, "attaching", "in-use")
    if h.microversion >= (2, 101):
        return 202, None, {}  # no longer waits for the device name
    return 200, {"volumeAttachment": nova_views.attached(volume, h.microversion)}, {}


def detach_volume(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    server = _server_or_404(h, params["id"])
    volume = h.owner.state.volumes.get(params["volume_id"])
    if volume is not None:
        h.owner.settle_volume(volume)
    if volume is None or volume.server_id != server.id:
        raise nova_error(404, "itemNotFound", f"volume_id not found: {params['volume_id']}")
    if volume.device == "/dev/vda" and not server.image_id:
        raise nova_error(400, "badRequest", "Cannot detach a root device volume")
    if volume.status != "in-use":
        raise nova_error(
            400,
            "badRequest",
            "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be "
            "'attached' to detach.",
        )
    h.owner.transition(volume, "detaching", "available")
    return 202, None, {}


# --- Neutron -------------------------------------------------------------------------------------------------


def _filtered(items: list[dict[str, Any]], query: dict[str, str], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    for key in keys:
        if key in query:
            items = [i for i in items if str(i.get(key)) == query[key]]
    return items


def _group_body(h: _Handler, group: dict[str, Any]) -> dict[str, Any]:
    rules = [r for r in h.owner.state.rules.values() if r["security_group_id"] == group["id"]]
    return dict(group, security_group_rules=rules)


def _group_or_404(h: _Handler, group_id: str) -> dict[str, Any]:
    group = h.owner.state.groups.get(group_id)
    if group is None:
        raise neutron_error(404, "SecurityGroupNotFound", f"Security group {group_id} does not exist")
    return group


def list_groups(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    groups = _filtered(list(h.owner.state.groups.values()), query, ("id", "name"))
    return 200, {"security_groups": [_group_body(h, g) for g in groups]}, {}


def create_group(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("security_group")
    if not isinstance(spec, dict) or not isinstance(spec.get("name", ""), str):
        raise neutron_error(400, "HTTPBadRequest", "Invalid input for operation: security_group is required.")
    if spec.get("name") == "default":
        raise neutron_error(409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
    h.owner.quotas.check_neutron("security_group", len(h.owner.state.groups))
    h.owner.quotas.check_neutron("security_group_rule", len(h.owner.state.rules), asked=2)  # its egress rules
    group = h.owner.add_group(spec.get("name", ""), spec.get("description", ""))
    return 201, {"security_group": _group_body(h, group)}, {}


def get_group(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    return 200, {"security_group": _group_body(h, _group_or_404(h, params["id"]))}, {}


def delete_group(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    group = _group_or_404(h, params["id"])
    if group["name"] == "default":
        raise neutron_error(
            409, "SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group."
        )
    if any(group["id"] in s.security_groups for s in h.owner.state.servers.values()):
        raise neutron_error(409, "SecurityGroupInUse", f"Security Group {group['id']} in use.")
    del h.owner.state.groups[group["id"]]
    for rule_id in [r["id"] for r in h.owner.state.rules.values() if r["security_group_id"] == group["id"]]:
        del h.owner.state.rules[rule_id]
    return 204, None, {}


def list_rules(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    rules = _filtered(list(h.owner.state.rules.values()), query, ("id", "security_group_id", "direction"))
    return 200, {"security_group_rules": rules}, {}


_RULE_KEYS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix")


def create_rule(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("security_group_rule")
    if not isinstance(spec, dict):
        raise neutron_error(400, "HTTPBadRequest", "Invalid input for operation: security_group_rule is required.")
    group = h.owner.state.groups.get(spec.get("security_group_id", ""))
    if group is None:
        raise neutron_error(
            404, "SecurityGroupNotFound", f"Security group {spec.get('security_group_id')} does not exist"
        )
    if spec.get("direction") not in ("ingress", "egress"):
        raise neutron_error(
            400, "InvalidInput", f"Invalid input for direction. Reason: {spec.get('direction')} is not in valid_values."
        )
    protocol = spec.get("protocol")
    if protocol not in (None, "tcp", "udp", "icmp"):
        raise neutron_error(
            400, "SecurityGroupRuleInvalidProtocol", f"Security group rule protocol {protocol} not supported."
        )
    low, high = spec.get("port_range_min"), spec.get("port_range_max")
    if low is not None and high is not None and protocol in ("tcp", "udp") and int(low) > int(high):
        raise neutron_error(
            400, "SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max"
        )
    candidate = {k: spec.get(k) for k in _RULE_KEYS}
    candidate["ethertype"] = candidate["ethertype"] or "IPv4"
    for rule in h.owner.state.rules.values():
        if rule["security_group_id"] == group["id"] and {k: rule[k] for k in _RULE_KEYS} == candidate:
            raise neutron_error(
                409, "SecurityGroupRuleExists", f"Security group rule already exists. Rule id is {rule['id']}."
            )
    h.owner.quotas.check_neutron("security_group_rule", len(h.owner.state.rules))
    rule = h.owner.add_rule(
        group["id"], spec["direction"], protocol, low, high, spec.get("remote_ip_prefix"), str(candidate["ethertype"])
    )
    return 201, {"security_group_rule": rule}, {}


def get_rule(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    rule = h.owner.state.rules.get(params["id"])
    if rule is None:
        raise neutron_error(404, "SecurityGroupRuleNotFound", f"Security group rule {params['id']} does not exist")
    return 200, {"security_group_rule": rule}, {}


def delete_rule(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    if h.owner.state.rules.pop(params["id"], None) is None:
        raise neutron_error(404, "SecurityGroupRuleNotFound", f"Security group rule {params['id']} does not exist")
    return 204, None, {}


def _networks(h: _Handler) -> list[dict[str, Any]]:
    def net(net_id: str, name: str, external: bool) -> dict[str, Any]:
        return {
            "id": net_id,
            "name": name,
            "router:external": external,
            "status": "ACTIVE",
            "admin_state_up": True,
            "shared": external,
            "subnets": [],
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
            "mtu": 1450,
        }

    return [net(h.owner.PRIVATE_NET, "private", False), net(h.owner.PUBLIC_NET, EXTERNAL_NET, True)]


def list_networks(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    nets = _networks(h)
    if "router:external" in query:
        wanted = query["router:external"].lower() == "true"
        nets = [n for n in nets if n["router:external"] is wanted]
    return 200, {"networks": _filtered(nets, query, ("id", "name"))}, {}


def _ports(h: _Handler) -> list[dict[str, Any]]:
    return [
        {
            "id": s.port_id,
            "name": "",
            "network_id": h.owner.PRIVATE_NET,
            "device_id": s.id,
            "device_owner": f"compute:{s.zone}",
            "fixed_ips": [{"subnet_id": h.owner.PRIVATE_NET, "ip_address": s.fixed_ip}],
            "mac_address": "fa:16:3e:00:00:01",
            "security_groups": list(s.security_groups),
            "status": "ACTIVE" if s.status == "ACTIVE" else "DOWN",
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
        }
        for s in h.owner.state.servers.values()
    ]


def list_ports(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    return 200, {"ports": _filtered(_ports(h), query, ("id", "device_id", "network_id"))}, {}


def _floating_or_404(h: _Handler, floating_id: str) -> dict[str, Any]:
    floating = h.owner.state.floating.get(floating_id)
    if floating is None:
        raise neutron_error(404, "FloatingIPNotFound", f"Floating IP {floating_id} could not be found")
    return floating


def list_floating(h: _Handler, _p: dict[str, str], query: dict[str, str], _b: dict[str, Any]) -> Answer:
    keys = ("id", "port_id", "floating_ip_address", "description")
    items = _filtered(list(h.owner.state.floating.values()), query, keys)
    return 200, {"floatingips": items}, {}


def create_floating(h: _Handler, _p: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    spec = body.get("floatingip")
    if not isinstance(spec, dict) or not spec.get("floating_network_id"):
        raise neutron_error(400, "HTTPBadRequest", "Invalid input for floating_network_id.")
    if spec["floating_network_id"] != h.owner.PUBLIC_NET:
        raise neutron_error(400, "BadRequest", f"Network {spec['floating_network_id']} is not a valid external network")
    h.owner.quotas.check_neutron("floatingip", len(h.owner.state.floating))
    ip = f"172.24.4.{h.owner.state.next_floating}"
    h.owner.state.next_floating += 1
    floating = {
        "id": _uuid(),
        "floating_ip_address": ip,
        "floating_network_id": h.owner.PUBLIC_NET,
        "port_id": None,
        "fixed_ip_address": None,
        "router_id": None,
        "status": "DOWN",
        "description": spec.get("description", ""),
        "project_id": PROJECT_ID,
        "tenant_id": PROJECT_ID,
        "created_at": _now(),
        "updated_at": _now(),
        "revision_number": 0,
        "tags": [],
    }
    h.owner.state.floating[floating["id"]] = floating
    if spec.get("port_id"):
        _associate(h, floating, spec["port_id"])
    return 201, {"floatingip": floating}, {}


def _associate(h: _Handler, floating: dict[str, Any], port_id: str | None) -> None:
    if port_id is None:
        floating.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
        return
    port = next((p for p in _ports(h) if p["id"] == port_id), None)
    if port is None:
        raise neutron_error(404, "PortNotFound", f"Port {port_id} could not be found.")
    floating.update(
        port_id=port_id, fixed_ip_address=port["fixed_ips"][0]["ip_address"], router_id=_uuid(), status="ACTIVE"
    )


def update_floating(h: _Handler, params: dict[str, str], _q: dict[str, str], body: dict[str, Any]) -> Answer:
    floating = _floating_or_404(h, params["id"])
    spec = body.get("floatingip")
    if not isinstance(spec, dict) or "port_id" not in spec:
        raise neutron_error(400, "HTTPBadRequest", "Invalid input for operation: port_id is required.")
    _associate(h, floating, spec["port_id"])
    floating["revision_number"] += 1
    return 200, {"floatingip": floating}, {}


def get_floating(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    return 200, {"floatingip": _floating_or_404(h, params["id"])}, {}


def delete_floating(h: _Handler, params: dict[str, str], _q: dict[str, str], _b: dict[str, Any]) -> Answer:
    _floating_or_404(h, params["id"])
    del h.owner.state.floating[params["id"]]
    return 204, None, {}


_UUID = r"[0-9a-fA-F\-]+"
_ROUTES: list[tuple[re.Pattern[str], dict[str, Route]]] = [
    (re.compile(r"/identity/v3"), {"GET": identity_version}),
    (re.compile(r"/identity/v3/auth/tokens"), {"POST": issue_token}),
    (re.compile(r"/compute"), {"GET": compute_versions}),
    (re.compile(r"/compute/v2\.1"), {"GET": compute_version}),
    (re.compile(r"/compute/v2\.1/servers(?P<detail>/detail)?"), {"GET": list_servers, "POST": create_server}),
    (re.compile(rf"/compute/v2\.1/servers/(?P<id>{_UUID})"), {"GET": get_server, "DELETE": delete_server}),
    (re.compile(rf"/compute/v2\.1/servers/(?P<id>{_UUID})/action"), {"POST": server_action}),
    (re.compile(r"/compute/v2\.1/flavors(?P<detail>/detail)?"), {"GET": list_flavors}),
    (re.compile(r"/compute/v2\.1/flavors/(?P<id>[^/]+)"), {"GET": get_flavor}),
    (re.compile(r"/compute/v2\.1/os-availability-zone"), {"GET": availability_zones}),
    (re.compile(r"/compute/v2\.1/limits"), {"GET": limits}),
    (re.compile(r"/compute/v2\.1/os-keypairs"), {"GET": list_keypairs, "POST": create_keypair}),
    (re.compile(r"/compute/v2\.1/os-keypairs/(?P<name>[^/]+)"), {"GET": get_keypair, "DELETE": delete_keypair}),
    (re.compile(r"/image"), {"GET": image_versions}),
    (re.compile(r"/image/v2/images"), {"GET": list_images}),
    (re.compile(rf"/image/v2/images/(?P<id>{_UUID})"), {"GET": get_image, "DELETE": delete_image}),
    (re.compile(r"/network"), {"GET": network_versions}),
    (re.compile(r"/network/v2\.0/security-groups"), {"GET": list_groups, "POST": create_group}),
    (re.compile(rf"/network/v2\.0/security-groups/(?P<id>{_UUID})"), {"GET": get_group, "DELETE": delete_group}),
    (re.compile(r"/network/v2\.0/security-group-rules"), {"GET": list_rules, "POST": create_rule}),
    (re.compile(rf"/network/v2\.0/security-group-rules/(?P<id>{_UUID})"), {"GET": get_rule, "DELETE": delete_rule}),
    (re.compile(r"/network/v2\.0/networks"), {"GET": list_networks}),
    (re.compile(r"/network/v2\.0/ports"), {"GET": list_ports}),
    (re.compile(r"/network/v2\.0/floatingips"), {"GET": list_floating, "POST": create_floating}),
    (
        re.compile(rf"/network/v2\.0/floatingips/(?P<id>{_UUID})"),
        {"GET": get_floating, "PUT": update_floating, "DELETE": delete_floating},
    ),
    (re.compile(r"/volume"), {"GET": volume_versions}),
    (re.compile(r"/volume/v3/(?P<project>[0-9a-f]+)/volumes(/detail)?"), {"GET": list_volumes, "POST": create_volume}),
    (
        re.compile(rf"/volume/v3/(?P<project>[0-9a-f]+)/volumes/(?P<id>{_UUID})"),
        {"GET": get_volume, "DELETE": delete_volume},
    ),
    (
        re.compile(r"/volume/v3/(?P<project>[0-9a-f]+)/snapshots(/detail)?"),
        {"GET": list_snapshots, "POST": create_snapshot},
    ),
    (
        re.compile(rf"/volume/v3/(?P<project>[0-9a-f]+)/snapshots/(?P<id>{_UUID})"),
        {"GET": get_snapshot, "DELETE": delete_snapshot},
    ),
    (
        re.compile(rf"/compute/v2\.1/servers/(?P<id>{_UUID})/os-volume_attachments"),
        {"GET": list_attachments, "POST": attach_volume},
    ),
    (
        re.compile(rf"/compute/v2\.1/servers/(?P<id>{_UUID})/os-volume_attachments/(?P<volume_id>{_UUID})"),
        {"DELETE": detach_volume},
    ),
]
