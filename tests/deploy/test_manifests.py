"""Offline checks of the deployment files: Kubernetes manifests, docker-compose.yml and the Dockerfile.

Nothing here needs a cluster or a Docker engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

Obj = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
BASE_DIR = K8S_DIR / "base"
DEV_DIR = K8S_DIR / "overlays" / "dev"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Every Clanavi service and its HTTP port; add new services here.
SERVICES: dict[str, int] = {
    "gateway": 8080,
    "provisioner": 8081,
    "audit": 8082,
    "scaler": 8083,
    "failover": 8084,
    "billing": 8085,
    "alerts": 8086,
}
PUBLIC_SERVICE = "gateway"
INFRA_SERVICES = ("rabbitmq", "postgres")
SECRET_NAME = "clanavi-secrets"
# Each service gets only the secrets it needs: the internal key everywhere (services trust only identities the gateway
# signed with it), the admin token at the gateway, the key that encrypts secrets at rest where secrets are kept (cloud
# credentials in the provisioner, idempotent answers in the gateway, webhook secrets in alerts).
_COMMON_SECRETS = frozenset({"CLANAVI_DATABASE_URL", "CLANAVI_AMQP_URL", "CLANAVI_INTERNAL_KEY"})
SERVICE_SECRETS: dict[str, frozenset[str]] = {
    "gateway": _COMMON_SECRETS | {"CLANAVI_ADMIN_TOKEN", "CLANAVI_SECRET_KEY"},
    "provisioner": _COMMON_SECRETS | {"CLANAVI_SECRET_KEY"},
    "audit": _COMMON_SECRETS | {"CLANAVI_AUDIT_SIGNING_KEY"},
    "scaler": _COMMON_SECRETS,
    "failover": _COMMON_SECRETS,
    "billing": _COMMON_SECRETS,
    "alerts": _COMMON_SECRETS | {"CLANAVI_SECRET_KEY"},
}
SECRET_KEYS = frozenset().union(*SERVICE_SECRETS.values())
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
K8S_VERSION = kv_utils.latest_version()


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Doc:
    path: Path
    index: int
    obj: Obj

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(ROOT)}#{self.index}:{self.kind}/{self.name}"


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def _load_docs(text: str, path: Path) -> list[Doc]:
    docs = []
    for index, obj in enumerate(yaml.safe_load_all(text)):
        if obj is None:
            continue
        assert isinstance(obj, dict), f"{path}: document {index} is not a mapping"
        docs.append(Doc(path, index, obj))
    return docs


def _is_kustomization(doc: Doc) -> bool:
    if doc.path.name in KUSTOMIZATION_NAMES:
        return doc.kind in {"", "Kustomization", "Component"}
    return False


@cache
def _all_docs() -> tuple[Doc, ...]:
    docs: list[Doc] = []
    for path in _yaml_files(K8S_DIR):
        docs.extend(_load_docs(path.read_text(encoding="utf-8"), path))
    return tuple(docs)


def _k8s_objects() -> list[Doc]:
    return [d for d in _all_docs() if not _is_kustomization(d)]


def _base_objects(kind: str) -> list[Doc]:
    return [d for d in _k8s_objects() if d.kind == kind and d.path.is_relative_to(BASE_DIR)]


def _kustomization_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*") if p.name in KUSTOMIZATION_NAMES)


def _load_yaml(path: Path) -> Obj:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


# --------------------------------------------------------------------------- k8s helpers


def _validate(obj: Obj, where: str) -> None:
    error = None
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        error = f"{where}: {exc.message} (at /{path}, Kubernetes {K8S_VERSION})"
    except kubernetes_validate.SchemaNotFoundError as exc:
        error = f"{where}: {exc.message}"
    # Failing outside the except block keeps jsonschema's very long traceback out of the report.
    if error is not None:
        pytest.fail(error)


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _pod_labels(deployment: Obj) -> dict[str, str]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def _containers(workload: Obj) -> list[Obj]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(containers, list)
    return containers


def _deployment_for(service: str) -> Obj:
    found = [d.obj for d in _base_objects("Deployment") if _pod_labels(d.obj).get(COMPONENT_LABEL) == service]
    assert len(found) == 1, f"expected one Deployment with {COMPONENT_LABEL}={service}, found {len(found)}"
    return found[0]


def _service_for(service: str) -> Obj:
    labels = _pod_labels(_deployment_for(service))
    found = [
        d.obj
        for d in _base_objects("Service")
        if d.obj["spec"].get("selector") and _selector_matches({"matchLabels": d.obj["spec"]["selector"]}, labels)
    ]
    assert len(found) == 1, f"expected one Service selecting the {service} pods, found {len(found)}"
    return found[0]


def _main_container(service: str) -> Obj:
    containers = [c for c in _containers(_deployment_for(service)) if c["name"] == service]
    assert len(containers) == 1, f"Deployment for {service} has no container named {service}"
    return containers[0]


def _resolve_port(container: Obj, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def _secret_refs(container: Obj) -> dict[str, tuple[str, str]]:
    """Env var name -> (Secret name, key) for every secretKeyRef."""
    refs = {}
    for env in container.get("env", []):
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            refs[env["name"]] = (ref["name"], ref["key"])
    return refs


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path}: malformed line {line!r}"
            values[key.strip()] = value.strip()
    return values


# --------------------------------------------------------------------------- k8s: schema and kustomize


def test_manifests_exist() -> None:
    kinds = {d.kind for d in _k8s_objects()}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "StatefulSet"} <= kinds
    assert (BASE_DIR / "kustomization.yaml").is_file()
    assert (DEV_DIR / "kustomization.yaml").is_file()


@pytest.mark.parametrize("doc", _k8s_objects(), ids=lambda d: d.label)
def test_manifest_is_valid_kubernetes(doc: Doc) -> None:
    assert doc.kind, f"{doc.label}: kind-less document outside a kustomization file"
    _validate(doc.obj, doc.label)


@pytest.mark.parametrize("path", _kustomization_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_kustomization_references_exist(path: Path) -> None:
    kustomization = _load_yaml(path)
    here = path.parent
    resources = kustomization.get("resources", [])
    assert resources, f"{path} lists no resources"
    for entry in resources:
        target = here / entry
        if target.is_dir():
            assert any((target / n).is_file() for n in KUSTOMIZATION_NAMES), f"{target} has no kustomization"
        else:
            assert target.is_file(), f"{path}: resource {entry} does not exist"
    for generator in kustomization.get("secretGenerator", []) + kustomization.get("configMapGenerator", []):
        for entry in generator.get("envs", []) + generator.get("files", []):
            source = entry.partition("=")[2] or entry
            assert (here / source).is_file(), f"{path}: generator source {source} does not exist"
    # A manifest copied in for a new service but not listed would silently never be deployed.
    listed = {(here / entry).resolve() for entry in resources}
    for manifest in here.glob("*.y*ml"):
        if manifest.name not in KUSTOMIZATION_NAMES:
            assert manifest.resolve() in listed, f"{manifest.relative_to(ROOT)} is not listed in {path.name}"


def test_base_commits_no_secret_values() -> None:
    assert not [d.label for d in _k8s_objects() if d.kind == "Secret" and d.path.is_relative_to(BASE_DIR)]
    assert "secretGenerator" not in _load_yaml(BASE_DIR / "kustomization.yaml")
    assert not [p for p in BASE_DIR.rglob("*") if p.suffix == ".env"]


def test_dev_overlay_generates_the_secret_with_consistent_values() -> None:
    kustomization = _load_yaml(DEV_DIR / "kustomization.yaml")
    generators = {g["name"]: g for g in kustomization.get("secretGenerator", [])}
    assert SECRET_NAME in generators, f"dev overlay must generate {SECRET_NAME}"
    secrets: dict[str, str] = {}
    for env_file in generators[SECRET_NAME].get("envs", []):
        secrets.update(_read_env_file(DEV_DIR / env_file))
    assert set(secrets) == SECRET_KEYS
    assert all(secrets.values()), "every dev secret needs a placeholder value"

    infra: dict[str, str] = {}
    for name, generator in generators.items():
        if name != SECRET_NAME:
            for env_file in generator.get("envs", []):
                infra.update(_read_env_file(DEV_DIR / env_file))
    db = urlsplit(secrets["CLANAVI_DATABASE_URL"])
    assert db.scheme.startswith("postgresql")
    assert (db.username, db.password, db.path.lstrip("/")) == (
        infra["POSTGRES_USER"],
        infra["POSTGRES_PASSWORD"],
        infra["POSTGRES_DB"],
    ), "dev database URL does not match the in-cluster PostgreSQL credentials"
    amqp = urlsplit(secrets["CLANAVI_AMQP_URL"])
    assert amqp.scheme == "amqp"
    assert (amqp.username, amqp.password) == (infra["RABBITMQ_DEFAULT_USER"], infra["RABBITMQ_DEFAULT_PASS"])
    dev_services = {d.name: d.obj for d in _k8s_objects() if d.kind == "Service" and d.path.is_relative_to(DEV_DIR)}
    for url in (db, amqp):
        assert url.hostname in dev_services, f"{url.hostname} is not a Service of the dev overlay"
        assert url.port in {p["port"] for p in dev_services[url.hostname]["spec"]["ports"]}


# --------------------------------------------------------------------------- k8s: services


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_has_deployment_and_cluster_ip_service(service: str) -> None:
    port = SERVICES[service]
    deployment = _deployment_for(service)
    labels = _pod_labels(deployment)
    assert labels.get(NAME_LABEL) == "clanavi"
    assert _selector_matches(deployment["spec"]["selector"], labels), "Deployment selector misses its pods"
    for key in (NAME_LABEL, COMPONENT_LABEL):
        assert deployment["metadata"]["labels"].get(key) == labels[key]

    container = _main_container(service)
    assert container.get("args") == ["service", "serve", service], (
        "must run the image entrypoint with `service serve <name>`"
    )
    assert "command" not in container, "overriding command would bypass the `clanavi` entrypoint"
    assert port in {p["containerPort"] for p in container.get("ports", [])}

    svc = _service_for(service)
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    matching = [p for p in svc["spec"]["ports"] if p["port"] == port]
    assert matching, f"Service {svc['metadata']['name']} does not expose {port}"
    target = matching[0].get("targetPort", matching[0]["port"])
    assert _resolve_port(container, target) == port, "Service targetPort does not reach the container port"


@pytest.mark.parametrize("doc", _base_objects("Deployment"), ids=lambda d: d.name)
def test_deployment_probes(doc: Doc) -> None:
    for container in _containers(doc.obj):
        ports = {p["containerPort"] for p in container.get("ports", [])}
        expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
        for probe_name, path in expected.items():
            probe = container.get(probe_name)
            assert probe, f"{container['name']}: missing {probe_name}"
            http = probe.get("httpGet")
            assert http, f"{container['name']}: {probe_name} must be an HTTP probe"
            assert http["path"] == path, f"{container['name']}: {probe_name} must hit {path}"
            assert _resolve_port(container, http["port"]) in ports


@pytest.mark.parametrize("doc", _base_objects("Deployment"), ids=lambda d: d.name)
def test_deployment_reads_secrets_from_secret(doc: Doc) -> None:
    service = doc.name.removeprefix("clanavi-")
    for container in _containers(doc.obj):
        refs = _secret_refs(container)
        for key in SERVICE_SECRETS[service]:
            assert refs.get(key) == (SECRET_NAME, key), f"{container['name']}: {key} must come from {SECRET_NAME}"
        assert set(refs) == SERVICE_SECRETS[service], f"{container['name']}: only the secrets it needs"
        plain = {e["name"] for e in container.get("env", []) if "value" in e}
        assert not plain & SECRET_KEYS, f"{container['name']}: secrets given as plain values"


@pytest.mark.parametrize("doc", _base_objects("Deployment"), ids=lambda d: d.name)
def test_deployment_is_hardened(doc: Doc) -> None:
    pod = doc.obj["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    # Service links would inject CLANAVI_<SVC>_PORT=tcp://... over the settings.
    assert pod.get("enableServiceLinks") is False
    for container in _containers(doc.obj):
        sc = container.get("securityContext", {})
        name = container["name"]
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{name}: runAsNonRoot"
        assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, f"{name}: runs as uid 0"
        assert sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem"
        assert sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation"
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), f"{name}: capabilities not dropped"
        assert not sc.get("capabilities", {}).get("add"), f"{name}: adds capabilities"
        assert not sc.get("privileged", False), f"{name}: privileged"
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        assert seccomp.get("type") == "RuntimeDefault", f"{name}: seccomp profile"
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{name}: resources.{section}"


def test_configmap_settings() -> None:
    configmaps = {d.name: d.obj for d in _base_objects("ConfigMap")}
    for service in SERVICES:
        for container in _containers(_deployment_for(service)):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
    assert len(configmaps) == 1, "expected exactly one shared ConfigMap in base"
    data: dict[str, str] = next(iter(configmaps.values()))["data"]
    assert not set(data) & SECRET_KEYS, "secrets must not live in the ConfigMap"
    assert data["CLANAVI_ENV"] == "production"
    assert data["CLANAVI_LOG_LEVEL"] == "INFO"
    for service, port in SERVICES.items():
        prefix = f"CLANAVI_{service.upper()}"
        assert data[f"{prefix}_HOST"] == "0.0.0.0", f"{service} must listen on all interfaces"
        assert data[f"{prefix}_PORT"] == str(port)
        if service != PUBLIC_SERVICE:
            svc = _service_for(service)
            expected = f"http://{svc['metadata']['name']}:{port}"
            assert data[f"CLANAVI_GATEWAY_{service.upper()}_URL"] == expected


# --------------------------------------------------------------------------- k8s: network policy


def _ingress_rules_for(labels: Mapping[str, str]) -> tuple[int, list[Obj]]:
    """Number of policies isolating these pods for ingress, and the union of their ingress rules."""
    count, rules = 0, []
    for doc in _base_objects("NetworkPolicy"):
        spec = doc.obj["spec"]
        types = spec.get("policyTypes", ["Ingress"])
        if "Ingress" in types and _selector_matches(spec["podSelector"], labels):
            count += 1
            rules.extend(spec.get("ingress", []))
    return count, rules


def _rule_allows_port(rule: Mapping[str, Any], container: Obj, port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(_resolve_port(container, p.get("port", port)) == port for p in ports)


def test_gateway_accepts_ingress_from_anywhere() -> None:
    port = SERVICES[PUBLIC_SERVICE]
    count, rules = _ingress_rules_for(_pod_labels(_deployment_for(PUBLIC_SERVICE)))
    assert count, "gateway pods are not selected by any NetworkPolicy"
    container = _main_container(PUBLIC_SERVICE)
    assert any(not rule.get("from") and _rule_allows_port(rule, container, port) for rule in rules)


@pytest.mark.parametrize("service", [s for s in SERVICES if s != PUBLIC_SERVICE])
def test_internal_service_accepts_only_the_gateway(service: str) -> None:
    count, rules = _ingress_rules_for(_pod_labels(_deployment_for(service)))
    assert count, f"{service} pods are not isolated by any NetworkPolicy"
    gateway_labels = _pod_labels(_deployment_for(PUBLIC_SERVICE))
    others = [_pod_labels(_deployment_for(s)) for s in SERVICES if s != PUBLIC_SERVICE]
    assert rules, f"{service} accepts no ingress at all; the gateway must reach it"
    for rule in rules:
        peers = rule.get("from")
        assert peers, f"{service}: an ingress rule without `from` admits every source"
        for peer in peers:
            assert set(peer) == {"podSelector"}, f"{service}: only same-namespace pod peers allowed, got {peer}"
            selector = peer["podSelector"]
            assert _selector_matches(selector, gateway_labels), f"{service}: peer does not select the gateway"
            for labels in others:
                assert not _selector_matches(selector, labels), f"{service}: peer admits {labels}"


# --------------------------------------------------------------------------- docker-compose.yml


@cache
def _compose() -> Obj:
    return _load_yaml(COMPOSE_FILE)


def _compose_services() -> dict[str, Obj]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _compose_env(service: str) -> dict[str, str]:
    env = _compose_services()[service].get("environment", {})
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _published(ports: Iterable[Any]) -> set[tuple[str, str]]:
    """(host port, container port) pairs from short or long port syntax."""
    out = set()
    for port in ports:
        if isinstance(port, dict):
            out.add((str(port.get("published", "")), str(port["target"])))
        else:
            host, _, target = str(port).rpartition(":")
            out.add((host.rpartition(":")[2], target.partition("/")[0]))
    return out


def test_compose_runs_every_service_from_the_one_image() -> None:
    services = _compose_services()
    clanavi = {name for name, svc in services.items() if "build" in svc}
    assert clanavi == set(SERVICES)
    builds = set()
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == ["service", "serve", name]
        build = svc["build"]
        if isinstance(build, str):
            build = {"context": build}
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE.resolve()
        builds.add(json.dumps(build, sort_keys=True))
    assert len(builds) == 1, "all services must build the same image"


@pytest.mark.parametrize("service", list(SERVICES))
def test_compose_depends_on_healthy_infrastructure(service: str) -> None:
    depends = _compose_services()[service].get("depends_on")
    assert isinstance(depends, dict), "depends_on must use the long form with conditions"
    required = list(INFRA_SERVICES)
    if service == PUBLIC_SERVICE:
        required += [s for s in SERVICES if s != service]
    for dependency in required:
        assert depends.get(dependency, {}).get("condition") == "service_healthy", f"{service} -> {dependency}"


INFRA_PROBES = [("rabbitmq", "rabbitmq-diagnostics"), ("postgres", "pg_isready")]


@pytest.mark.parametrize(("service", "probe"), INFRA_PROBES)
def test_compose_infrastructure_healthchecks(service: str, probe: str) -> None:
    svc = _compose_services()[service]
    healthcheck = svc.get("healthcheck", {})
    assert not healthcheck.get("disable", False)
    test = healthcheck.get("test")
    assert test, f"{service} needs a healthcheck"
    assert probe in (test if isinstance(test, str) else " ".join(test))
    expected_image = {"rabbitmq": r"^rabbitmq:3\.1[0-9]", "postgres": r"^postgres:15"}[service]
    assert re.match(expected_image, svc["image"]), f"{service} image {svc['image']}"


@pytest.mark.parametrize("service", list(SERVICES))
def test_compose_service_healthcheck(service: str) -> None:
    test = _compose_services()[service].get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[0] == "CMD" and test[1] == "python", "slim image has no curl"
    assert re.search(rf"http://127\.0\.0\.1:{SERVICES[service]}/(readyz|healthz)\b", " ".join(test))


def test_compose_only_gateway_publishes_ports() -> None:
    publishing = {name for name, svc in _compose_services().items() if svc.get("ports")}
    assert publishing == {PUBLIC_SERVICE}
    port = str(SERVICES[PUBLIC_SERVICE])
    assert _published(_compose_services()[PUBLIC_SERVICE]["ports"]) == {(port, port)}


@pytest.mark.parametrize("service", list(SERVICES))
def test_compose_environment(service: str) -> None:
    env = _compose_env(service)
    for name in ("CLANAVI_ADMIN_TOKEN", "CLANAVI_INTERNAL_KEY", "CLANAVI_SECRET_KEY"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), f"{name} must be a required variable"
    assert env["CLANAVI_ENV"] == "production"
    assert env["CLANAVI_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["CLANAVI_DATABASE_URL"]
    assert env["CLANAVI_AMQP_URL"].startswith("amqp://")
    assert "@rabbitmq:5672/" in env["CLANAVI_AMQP_URL"]
    prefix = f"CLANAVI_{service.upper()}"
    assert env[f"{prefix}_HOST"] == "0.0.0.0"
    assert env[f"{prefix}_PORT"] == str(SERVICES[service])
    if service == PUBLIC_SERVICE:
        for other, port in SERVICES.items():
            if other != PUBLIC_SERVICE:
                assert env[f"CLANAVI_GATEWAY_{other.upper()}_URL"] == f"http://{other}:{port}"


# --------------------------------------------------------------------------- Dockerfile


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (UPPER keyword, arguments) grouped by build stage; line continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), args.strip()))
    return stages


def _last(stage: list[tuple[str, str]], keyword: str) -> str:
    values = [args for kw, args in stage if kw == keyword]
    assert values, f"final stage has no {keyword}"
    return values[-1]


def test_dockerfile_runtime_stage() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "expected a multi-stage build"
    final = stages[-1]
    assert json.loads(_last(final, "ENTRYPOINT")) == ["clanavi"]
    assert json.loads(_last(final, "CMD")) == ["service", "serve", PUBLIC_SERVICE]
    user = _last(final, "USER").partition(":")[0]
    assert user not in {"root", "0"}, "runtime must not run as root"
    assert "/app/.venv/bin" in " ".join(args for kw, args in final if kw == "ENV")
    assert not [args for kw, args in final if kw == "RUN" and "uv " in args], "uv belongs to the builder"


def test_dockerfile_builds_with_pinned_uv_and_no_dev_deps() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ghcr.io/astral-sh/uv:0.13.9" in text
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, re.MULTILINE)
    runs = [args for stage in _dockerfile_stages() for kw, args in stage if kw == "RUN"]
    syncs = [args for args in runs if "uv sync" in args]
    assert syncs, "dependencies must be installed with uv sync"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args, args
        # The image serves every built-in adapter: each cloud SDK's extra.
        assert "--extra all" in args, args


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {line.strip().strip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    for required in (".venv", ".run", ".cache", ".git", "tests", "bench"):
        assert required in entries, f".dockerignore must exclude {required}"
    assert any("__pycache__" in e for e in entries)
