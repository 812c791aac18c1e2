"""Scripts and server templates: records with immutable numbered versions, and the rules of their content; no I/O.

A script or a template is a name in a project and a series of versions; a version never changes once made (only
its `deprecated` flag). A new script version is made only when its content differs from the latest. A template
names the script versions it runs; those versions cannot be deleted while it does, and a template version cannot be
deleted while a live instance came from it: both can be deprecated instead, and nothing new may then use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from adapters.base import Flavor, Image, ImageState
from services.provisioner.templates import boot
from services.provisioner.templates.inputs import InputSpec, Value, declaration_problems

Phase = Literal["boot", "operational", "decommission"]
PHASES: tuple[Phase, ...] = ("boot", "operational", "decommission")
# The lists of a template version that name scripts, and the phase each list runs in.
SCRIPT_LISTS: dict[str, Phase] = {
    "boot_scripts": "boot",
    "operational_scripts": "operational",
    "decommission_scripts": "decommission",
}


@dataclass(frozen=True, slots=True)
class ScriptRecord:
    id: str
    project_id: str
    name: str
    latest_version: int
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptVersion:
    script_id: str
    version: int
    body: str
    phase: Phase
    timeout_seconds: int
    inputs: tuple[InputSpec, ...]
    created_at: datetime
    deprecated: bool = False

    def same_content(self, other: ScriptContent) -> bool:
        return (self.body, self.phase, self.timeout_seconds, self.inputs) == (
            other.body,
            other.phase,
            other.timeout_seconds,
            other.inputs,
        )


@dataclass(frozen=True, slots=True)
class ScriptContent:
    """What a script version holds, as a request gives it."""

    body: str
    phase: Phase
    timeout_seconds: int
    inputs: tuple[InputSpec, ...] = ()


def script_problems(content: ScriptContent) -> list[dict[str, str]]:
    """What is wrong with a script's content: its body's kind, its declarations, and any placeholder naming an input
    it does not declare."""
    problems = []
    if not (content.body.startswith("#!") or content.body.startswith("#cloud-config")):
        problems.append({"location": "body.body", "message": "starts with #! (a script) or #cloud-config"})
    declared = {spec.name for spec in content.inputs}
    for name in boot.referenced(content.body):
        if name not in declared:
            problems.append({"location": "body.body", "message": f"{{{{ {name} }}}}: no input {name} is declared"})
    if content.phase != "boot" and content.body.startswith("#cloud-config"):
        problems.append({"location": "body.phase", "message": "only a boot script may be #cloud-config"})
    return problems + declaration_problems(content.inputs, "body.inputs")


# A script reference's version before it is resolved: the script's latest at the time the template version is made.
LATEST = 0


@dataclass(frozen=True, slots=True)
class ScriptRef:
    """A script version a template runs."""

    script_id: str
    version: int

    @property
    def key(self) -> str:
        return f"{self.script_id}:{self.version}"


@dataclass(frozen=True, slots=True)
class CloudChoice:
    """What a template runs on one cloud: that cloud's image and flavor."""

    cloud_id: str
    image_id: str
    flavor_id: str


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a cloud not named in the template's choices must offer: the smallest flavor with at least these, and an
    image of this name."""

    image_name: str
    min_vcpus: int = 1
    min_ram_mb: int = 0
    min_disk_gb: int = 0


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    id: str
    project_id: str
    name: str
    latest_version: int
    default_version: int
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """What a template version holds. `values` are the template's values of inputs (its level); the secrets among
    them are kept sealed apart (`sealed_values` of the version), never here."""

    clouds: tuple[CloudChoice, ...] = ()
    requirements: Requirements | None = None
    key_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    boot_scripts: tuple[ScriptRef, ...] = ()
    operational_scripts: tuple[ScriptRef, ...] = ()
    decommission_scripts: tuple[ScriptRef, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    values: Mapping[str, Value] = field(default_factory=dict)
    # Kept for the alerts service; Clanavi's provisioner does not read them.
    alerts: tuple[Mapping[str, Any], ...] = ()

    def script_lists(self) -> dict[str, tuple[ScriptRef, ...]]:
        return {name: getattr(self, name) for name in SCRIPT_LISTS}

    def script_refs(self) -> list[ScriptRef]:
        return [ref for refs in self.script_lists().values() for ref in refs]

    def choice_for(self, cloud_id: str) -> CloudChoice | None:
        return next((c for c in self.clouds if c.cloud_id == cloud_id), None)


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    template_id: str
    version: int
    spec: TemplateSpec
    created_at: datetime
    deprecated: bool = False
    # The template's secret values, sealed (None: it sets none).
    sealed_values: bytes | None = None
    secret_names: tuple[str, ...] = ()


def template_problems(spec: TemplateSpec) -> list[dict[str, str]]:
    """What is wrong with a template's content on its own (the scripts it names are checked against their versions
    by the use case)."""
    problems = declaration_problems(spec.inputs, "body.inputs")
    if not spec.clouds and spec.requirements is None:
        problems.append({"location": "body.clouds", "message": "name an image and flavor per cloud, or requirements"})
    seen: set[str] = set()
    for n, choice in enumerate(spec.clouds):
        if choice.cloud_id in seen:
            problems.append({"location": f"body.clouds.{n}.cloud_id", "message": f"{choice.cloud_id} appears twice"})
        seen.add(choice.cloud_id)
    return problems


def scripts_problems(spec: TemplateSpec, versions: Mapping[ScriptRef, ScriptVersion | None]) -> list[dict[str, str]]:
    """What is wrong with the script versions a template names: unknown, deprecated, or of another phase."""
    problems = []
    for list_name, refs in spec.script_lists().items():
        phase = SCRIPT_LISTS[list_name]
        for n, ref in enumerate(refs):
            at = f"body.{list_name}.{n}"
            version = versions.get(ref)
            if version is None and ref.version == LATEST:
                problems.append({"location": at, "message": f"no script {ref.script_id}"})
            elif version is None:
                problems.append({"location": at, "message": f"no version {ref.version} of script {ref.script_id}"})
            elif version.deprecated:
                problems.append({"location": at, "message": f"version {ref.version} is deprecated"})
            elif version.phase != phase:
                problems.append({"location": at, "message": f"phase {version.phase}, not {phase}"})
    return problems


def smallest_flavor(flavors: Sequence[Flavor], req: Requirements) -> Flavor | None:
    """The smallest flavor (fewest vCPUs, then least RAM, then disk) that meets the requirements."""
    fitting = [
        f for f in flavors if f.vcpus >= req.min_vcpus and f.ram_mb >= req.min_ram_mb and f.disk_gb >= req.min_disk_gb
    ]
    return min(fitting, key=lambda f: (f.vcpus, f.ram_mb, f.disk_gb, f.id), default=None)


def image_named(images: Sequence[Image], req: Requirements) -> Image | None:
    """The available image of the required name (the first by id when the cloud has several)."""
    named = [i for i in images if i.name == req.image_name and i.state == ImageState.AVAILABLE]
    return min(named, key=lambda i: i.id, default=None)


def declared_inputs(
    spec: TemplateSpec, versions: Mapping[ScriptRef, ScriptVersion]
) -> list[tuple[str, Sequence[InputSpec]]]:
    """Every declaration a template's inputs come from, scripts first (in the template's order) then its own."""
    owners: list[tuple[str, Sequence[InputSpec]]] = []
    for list_name, refs in spec.script_lists().items():
        for n, ref in enumerate(refs):
            owners.append((f"body.{list_name}.{n}.inputs", versions[ref].inputs))
    owners.append(("body.inputs", spec.inputs))
    return owners


__all__ = [
    "LATEST",
    "PHASES",
    "SCRIPT_LISTS",
    "CloudChoice",
    "Phase",
    "Requirements",
    "ScriptContent",
    "ScriptRecord",
    "ScriptRef",
    "ScriptVersion",
    "TemplateRecord",
    "TemplateSpec",
    "TemplateVersion",
    "declared_inputs",
    "image_named",
    "smallest_flavor",
    "script_problems",
    "scripts_problems",
    "template_problems",
]
