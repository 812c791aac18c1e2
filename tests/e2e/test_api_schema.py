"""Schemathesis against the running platform: every operation the gateway's `/openapi.json` documents, called with
generated valid and invalid input, must answer without a server error and as documented (status code, content type,
headers, body schema).

The platform runs as processes, so what is checked is what a user gets through the gateway. A few real objects are
made first and offered as path and body ids, so that generated calls reach existing resources as well as missing
ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
import schemathesis.engine
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import APIOperation, BaseSchema
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.engine import Status, StopReason, events

from tests.e2e.platform import TOKEN, Platform

pytestmark = pytest.mark.e2e
# Generated calls change what other modules would rely on (they revoke keys, disable modules): a platform of its own.
OWN_PLATFORM = True

# Enough examples per operation and phase to meet boundaries and odd input, few enough to finish in minutes on 2 cores.
MAX_EXAMPLES = 15
SEED = 20_240_601

# The gateway's default limit (CLANAVI_GATEWAY_MAX_BODY_BYTES), which the test platform keeps.
MAX_BODY_BYTES = 1_048_576

Ids = dict[str, list[str]]
Operation = APIOperation[Any, Any, Any, Any]


def _poll(probe: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not reached within {within}s: {what}")


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def _state_is(client: httpx.Client, path: str, state: str) -> Callable[[], bool]:
    return lambda: client.get(path).json()["state"] == state


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps caches (constants, Unicode tables) in `.hypothesis` under the working directory; not here."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def seeded(platform: Platform) -> Ids:
    """One of each kind of object, in the admin token's project, for generated calls to find."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=platform.gateway_url, headers=headers, timeout=30) as client:
        instance = _created(
            client.post(
                "/v1/instances", json={"name": "schema-1", "image_id": "img-debian-12", "flavor_id": "sim.small"}
            )
        )
        _poll(_state_is(client, f"/v1/instances/{instance['id']}", "running"), "instance running")
        key_pair = _created(client.post("/v1/key-pairs", json={"name": "schema-1"}))
        group = _created(client.post("/v1/security-groups", json={"name": "schema-1"}))
        group = _created(
            client.post(
                f"/v1/security-groups/{group['id']}/rules",
                json={"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"},
            )
        )
        volume = _created(client.post("/v1/volumes", json={"name": "schema-1", "size_gb": 1}))
        _poll(_state_is(client, f"/v1/volumes/{volume['id']}", "available"), "volume available")
        snapshot = _created(client.post("/v1/snapshots", json={"name": "schema-1", "volume_id": volume["id"]}))
        address = _created(client.post("/v1/addresses", json={"name": "schema-1"}))
        image = _created(client.post("/v1/images", json={"name": "schema-1", "instance_id": instance["id"]}))
        modules = client.get("/v1/modules").json()["items"]
    return {
        "cloud_id": ["sim"],
        "instance_id": [instance["id"]],
        "key_pair_id": [key_pair["id"]],
        "group_id": [group["id"]],
        "rule_id": [rule["id"] for rule in group["rules"]],
        "volume_id": [volume["id"]],
        "snapshot_id": [snapshot["id"]],
        "address_id": [address["id"]],
        "image_id": [image["id"]],
        # Disabling the sim cloud's module would turn every later call to that cloud into 409 `module_disabled`:
        # a documented answer, but one that would hide everything behind it. Random names still reach the route.
        "name": [module["name"] for module in modules if "sim" not in module["cloud_ids"]],
    }


def _config(platform: Platform, ids: Ids) -> schemathesis.Config:
    # Each seeded id is offered half the time, where a path, a query or a body names that kind of id; the other half
    # is generated, so missing ids and odd strings are tried too.
    bindings: dict[str, dict[str, Any]] = {}
    for name in ids:
        for location in ("path", "query", "body"):
            bindings[f"{location}.{name}"] = {"dictionary": name, "probability": 0.5}
    bindings["body.security_group_ids[*]"] = {"dictionary": "group_id", "probability": 0.5}
    bindings["body.key_name"] = {"dictionary": "key_name", "probability": 0.5}
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": platform.gateway_url,
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "request-timeout": 30,
            # Every failure of an operation, not only its first, so one run shows all there is to fix.
            "continue-on-failure": True,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                # Chains of calls (create, then act on what was created) along links schemathesis infers from the
                # schema's ids.
                "stateful": {"enabled": True, "max-steps": 10},
            },
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
            },
            "dictionaries": {
                **{name: {"values": values} for name, values in ids.items()},
                "key_name": {"values": ["schema-1"]},
            },
            "parameters": bindings,
        }
    )


def _report(event: events.EngineEvent) -> list[str]:
    """What `event` found wrong, one entry per distinct failure, each with the curl command that repeats it."""
    if isinstance(event, events.FatalError):
        return [f"schemathesis stopped: {event.exception!r}"]
    if isinstance(event, events.NonFatalError):
        return [f"{event.label}: {event.value!r}\n{event.info.code_sample or ''}"]
    if not isinstance(event, events.ScenarioFinished) or event.status != Status.FAILURE:
        return []
    found = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"{event.recorder.label} [{check.name}] {failure.title}\n{failure.message}\n"
                    f"{check.failure_info.code_sample}"
                )
    return found


@pytest.fixture(scope="module")
def api_schema(platform: Platform, seeded: Ids) -> BaseSchema:
    return schemathesis.openapi.from_url(
        f"{platform.gateway_url}/openapi.json", config=_config(platform, seeded), timeout=30
    )


def _operations(schema: BaseSchema) -> list[Operation]:
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot read an operation: {result.err()}"
        operations.append(result.ok())
    assert operations, "the gateway documents no operation"
    return operations


def _answers_as_documented(
    client: httpx.Client,
    operation: Operation,
    status: int | None,
    *,
    path_value: str = "x",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
) -> str | None:
    """Call `operation` (every path parameter set to `path_value`) and check that it answers `status` (any status
    when None) as documented; what is wrong, if anything."""
    names = re.findall(r"{([^}]+)}", operation.path)
    case = operation.Case(path_parameters=dict.fromkeys(names, path_value), query=query)
    answer = client.request(
        operation.method.upper(),
        re.sub(r"{[^}]+}", quote(path_value, safe=""), operation.path),
        params=query,
        headers={**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})},
        content=body,
    )
    if status is not None and answer.status_code != status:
        return f"{answer.status_code}, not {status}: {answer.text[:300]}"
    try:
        case.validate_response(answer)
    except FailureGroup as exc:
        return "; ".join(f"{failure.title}: {failure.message}" for failure in exc.exceptions)
    return None


@pytest.fixture(scope="module")
def viewer_key(platform: Platform) -> str:
    """An API key of the admin's project (`default`) that may only read."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=platform.gateway_url, headers=headers, timeout=30) as client:
        key: str = _created(client.post("/v1/api-keys", json={"name": "schema-viewer", "role": "viewer"}))["key"]
    return key


def test_a_viewer_is_answered_as_documented(platform: Platform, api_schema: BaseSchema, viewer_key: str) -> None:
    """A caller whose role falls short of an operation is refused with a documented 403 (and may read the rest)."""
    failures = []
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        for operation in _operations(api_schema):
            if operation.path.startswith("/v1/") and operation.definition.raw.get("security") != []:
                found = _answers_as_documented(
                    client, operation, None, headers={"Authorization": f"Bearer {viewer_key}"}
                )
                if found:
                    failures.append(f"{operation.label} as a viewer: {found}")
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)


def test_refusals_answer_as_documented(platform: Platform, api_schema: BaseSchema) -> None:
    """The answers the gateway makes before any route runs, which generated input seldom meets: no or a wrong token,
    a body over the limit, a NUL character in the path. Every operation must document them, as problem JSON."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    failures = []
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        for operation in _operations(api_schema):
            if not operation.path.startswith("/v1/"):
                continue
            checks: dict[str, str | None] = {
                "a body over the limit": _answers_as_documented(client, operation, 413, headers=admin, body=big)
            }
            if operation.definition.raw.get("security") != []:  # the public ones (signing in) need no token
                checks["no token"] = _answers_as_documented(client, operation, 401)
                checks["a wrong token"] = _answers_as_documented(
                    client, operation, 401, headers={"Authorization": "Bearer not-a-token-0123456789"}
                )
            if "{" in operation.path:
                checks["a NUL in the path"] = _answers_as_documented(
                    client, operation, 422, path_value="\x00", headers=admin
                )
            failures += [f"{operation.label} with {what}: {found}" for what, found in checks.items() if found]
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)


def test_rate_limited_calls_answer_as_documented(rate_limited_platform: Platform, api_schema: BaseSchema) -> None:
    """Past its limit a caller gets 429 with Retry-After, from every operation, as documented."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    failures = []
    with httpx.Client(base_url=rate_limited_platform.gateway_url, timeout=30) as client:
        # The caller's one call, and the address's one login.
        client.get("/v1/me", headers=admin)
        client.post("/v1/auth/token", data={"grant_type": "password", "username": "a@example.com", "password": "x"})
        for operation in _operations(api_schema):
            if operation.path.startswith("/v1/"):
                found = _answers_as_documented(client, operation, 429, headers=admin)
                if found:
                    failures.append(f"{operation.label} past the limit: {found}")
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        # Valid times whose offset takes them out of the calendar in UTC.
        ("GET", "/v1/audit/events", {"since": "0001-01-01T00:00:00+05:00"}, None),
        ("GET", "/v1/audit/events", {"until": "9999-12-31T23:59:59-05:00"}, None),
        ("GET", "/v1/instances", {"name": "a\x00b"}, None),
        ("POST", "/v1/volumes", None, b"\xff\xfe{not utf-8"),
    ],
)
def test_odd_input_is_refused_as_documented(
    platform: Platform,
    api_schema: BaseSchema,
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: bytes | None,
) -> None:
    """Input that generated cases seldom reach, refused with a documented 422."""
    operation: Operation = api_schema[path][method]
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        found = _answers_as_documented(
            client, operation, 422, headers={"Authorization": f"Bearer {TOKEN}"}, query=query, body=body
        )
    assert found is None, found


# Last in the module: generated calls change what the others rely on (they may revoke keys, disable modules).
def test_every_operation_answers_as_documented(platform: Platform, api_schema: BaseSchema) -> None:
    _operations(api_schema)
    failures: dict[str, None] = {}
    finished: events.EngineFinished | None = None
    tested: dict[str, int] = {}
    for event in schemathesis.engine.from_schema(api_schema).execute():
        failures.update(dict.fromkeys(_report(event)))
        if isinstance(event, events.ScenarioFinished):
            tested[event.phase.value] = tested.get(event.phase.value, 0) + len(event.recorder.cases)
        if isinstance(event, events.EngineFinished):
            finished = event
    print(f"schemathesis: {tested} cases by phase")
    assert finished is not None
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    assert finished.stop_reason == StopReason.COMPLETED, finished.stop_reason
    # Had generated calls locked the admin out, most cases would have met nothing but 401.
    me = httpx.get(f"{platform.gateway_url}/v1/me", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert me.status_code == 200, me.text
