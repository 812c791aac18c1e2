"""The allocator's use case: gather every place the project may put a server (once per request: its clouds, their
catalogues, zones, prices in force and quotas, all from the directory's caches), then let `domain.decide` choose.
No FastAPI here; nothing is recorded and no event is sent: a launch records what it places.

A candidate is one (cloud, zone, flavor). What gathering learns of a cloud or a flavor that rules it out (its module
is disabled, its adapter lacks what the server needs, the image is not there, the flavor is too small, a template
cannot run there) is the candidate's reason, in Clanavi's words; the domain adds price, capacity and affinity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from adapters.base import CloudError, Feature, Flavor
from kernel.errors import ClanaviError, ValidationFailed
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.domain import LaunchNames
from services.provisioner.instances.repository import HeldResources
from services.provisioner.owned import missing, owned
from services.provisioner.placement import domain
from services.provisioner.placement.domain import Candidate, Capacity, Decision, PlacementPolicy, Situation
from services.provisioner.placement.repository import PlacementRepository
from services.provisioner.prices import handlers as prices
from services.provisioner.prices.repository import PriceRepository
from services.provisioner.templates import handlers as templates
from services.provisioner.templates.domain import Requirements, image_named
from services.provisioner.templates.repository import TemplateRepository

# Candidates an answer lists at most (the best first); the decision itself weighs them all.
LISTED = 200
# What the features a server needs are called in a rejection.
_FEATURE_WORDS = {
    Feature.INSTANCES: "instances",
    Feature.USER_DATA: "user data",
    Feature.ZONES: "zones",
    Feature.KEY_PAIRS: "key pairs",
    Feature.SECURITY_GROUPS: "security groups",
    Feature.FLAVORS: "flavors",
    Feature.IMAGES: "images",
}


class PlacementStore(Protocol):
    """What placing reads: the project's clouds, what a template launch reads, prices and where servers are."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def templates(self) -> TemplateRepository: ...
    @property
    def resources(self) -> HeldResources: ...
    @property
    def prices(self) -> PriceRepository: ...
    @property
    def placements(self) -> PlacementRepository: ...


@dataclass(frozen=True)
class FromTemplate:
    template_id: str
    version: int | None = None
    inputs: Mapping[str, object] = field(default_factory=dict)
    # A cluster role's inputs, for its members (the server's win).
    cluster_inputs: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerSpec:
    """What is placed: a template (resolved on each cloud), an image and flavor (ids of the clouds that have them),
    or requirements (every flavor that meets them, with an image by id or name), and what its launch names."""

    template: FromTemplate | None = None
    image_id: str | None = None
    flavor_id: str | None = None
    requirements: Requirements | None = None
    key_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    user_data: bool = False
    zone: str | None = None


@dataclass(frozen=True)
class Placement:
    """A decision and the candidates it weighed (in the order the decision indexes them)."""

    decision: Decision
    candidates: list[Candidate]
    policy: PlacementPolicy
    count: int

    def chosen(self) -> list[tuple[Candidate, float]]:
        return [(self.candidates[p.candidate], p.score) for p in self.decision.placed]

    def listed(self) -> list[domain.Verdict]:
        """The candidates an answer shows: the placed, then the best scored, then the rejected; at most `LISTED`."""
        ranked = sorted(
            self.decision.verdicts,
            key=lambda v: (-v.placed, v.score is None, -(v.score or 0.0), v.candidate.cloud_id, v.candidate.zone or ""),
        )
        return ranked[:LISTED]


class NothingFits(ValidationFailed, code="placement_failed", title="No place fits the server"):
    """No candidate (or too few) passes the filters; the problem carries the explanation. `only_cloud`: the one cloud
    weighed, when everything said against it was found in gathering (its catalogue, its module, its features): a
    launch there is then refused by the launch's own checks, in their words."""

    only_cloud: str | None = None


async def _clouds(repos: PlacementStore, project_id: str, wanted: Sequence[str], named_in: str | None) -> list[Cloud]:
    """The project's clouds the policy allows; an id it does not have is refused as one nobody has (`named_in`: the
    body field that named the one cloud, else the policy's list)."""
    mine = await repos.clouds.of_project(project_id)
    if not wanted:
        return mine
    by_id = {c.id: c for c in mine}
    for n, cloud_id in enumerate(wanted):
        if cloud_id not in by_id:
            raise missing("cloud", cloud_id, named_in or f"body.placement.cloud_ids.{n}")
    return [by_id[c] for c in dict.fromkeys(wanted)]


def _flat(cloud: Cloud, region: str | None, flavor_id: str, why: str) -> Candidate:
    return Candidate(cloud.id, region, None, flavor_id, 0, 0, 0, rejected=why)


def _needed(spec: ServerSpec, user_data: bool) -> list[Feature]:
    needs = [Feature.INSTANCES]
    if user_data:
        needs.append(Feature.USER_DATA)
    if spec.key_name is not None:
        needs.append(Feature.KEY_PAIRS)
    if spec.security_group_ids:
        needs.append(Feature.SECURITY_GROUPS)
    if spec.requirements is not None:
        needs += [Feature.FLAVORS, Feature.IMAGES]
    return needs


@dataclass
class _Machine:
    """What one cloud offers the server: the flavors to weigh (with why each is ruled out) and the image."""

    image_id: str | None
    flavors: list[tuple[Flavor, str | None]]


async def _from_template(
    uow: UnitOfWork[PlacementStore], clouds: CloudDirectory, project_id: str, cloud: Cloud, template: FromTemplate
) -> _Machine | str:
    """The image and flavor a template resolves to on `cloud`, or why it cannot run there; its records are read
    first, then the cloud's catalogue asked, never with a connection held across that."""
    try:
        async with uow.reading() as repos:
            draft = await templates.draft_launch(
                repos,
                clouds,
                project_id=project_id,
                cloud_id=cloud.id,
                template_id=template.template_id,
                version=template.version,
                server_inputs=template.inputs,
                cluster_inputs=template.cluster_inputs,
            )
        plan = await templates.plan(clouds, draft)
    except ValidationFailed as exc:
        problems = exc.extensions.get("errors", [])
        if any(str(p.get("location", "")).startswith("body.template") for p in problems):
            raise  # the template itself is wrong, wherever it runs
        said = "; ".join(str(p.get("message", "")) for p in problems)
        return f"the template cannot run here: {said or exc.detail}"
    if plan.user_data is not None and Feature.USER_DATA not in await clouds.features(cloud):
        return f"the {cloud.driver} adapter has no user data, which the template's boot scripts need"
    return _Machine(plan.image_id, [(await clouds.flavor(cloud.id, plan.flavor_id), None)])


async def _machine(clouds: CloudDirectory, cloud: Cloud, spec: ServerSpec) -> _Machine | str:
    """The image and flavors of a server not from a template on `cloud`, or why it cannot run there."""
    image_id = spec.image_id
    if spec.image_id is not None:
        try:
            await clouds.image(cloud.id, spec.image_id)
        except CloudError:
            return f"no image {spec.image_id} in this cloud"
    listed = await clouds.flavors(cloud.id)
    if spec.flavor_id is not None:
        found = [f for f in listed if f.id == spec.flavor_id]
        return _Machine(image_id, [(found[0], None)]) if found else f"no flavor {spec.flavor_id} in this cloud"
    req = spec.requirements or Requirements(image_name="")
    if spec.image_id is None and req.image_name:
        image = image_named(await clouds.images(cloud.id), req)
        if image is None:
            return f"no image named {req.image_name} in this cloud"
        image_id = image.id
    below = f"below the requirements ({req.min_vcpus} vCPUs, {req.min_ram_mb} MB of RAM, {req.min_disk_gb} GB of disk)"
    fits = {
        f.id for f in listed if f.vcpus >= req.min_vcpus and f.ram_mb >= req.min_ram_mb and f.disk_gb >= req.min_disk_gb
    }
    return _Machine(image_id, [(f, None if f.id in fits else below) for f in listed])


async def _capacity(clouds: CloudDirectory, cloud: Cloud, features: frozenset[Feature]) -> Capacity | None:
    """What the cloud has left, from its quotas (None: it does not say, or did not answer)."""
    if Feature.QUOTAS not in features:
        return None
    try:
        quotas = await clouds.quotas(cloud.id)
    except (CloudError, ClanaviError):
        return None
    return Capacity(quotas.instances.left, quotas.vcpus.left, quotas.ram_mb.left)


@dataclass(frozen=True)
class _Read:
    """What the database holds of one cloud for the decision, read with the others' in one go."""

    names: LaunchNames | None
    catalog: prices.InForce | None


async def _read(repos: PlacementStore, clouds: CloudDirectory, cloud: Cloud, spec: ServerSpec, at: datetime) -> _Read:
    names = None
    if spec.key_name is not None or spec.security_group_ids:
        names = await repos.resources.launch_names(cloud.project_id, cloud.id, spec.key_name, spec.security_group_ids)
    region = prices.region_of(clouds, cloud)
    catalog = await prices.in_force_on(repos.prices, cloud, at=at, region=region)
    return _Read(names, catalog)


async def _candidates(
    uow: UnitOfWork[PlacementStore],
    clouds: CloudDirectory,
    project_id: str,
    cloud: Cloud,
    spec: ServerSpec,
    policy: PlacementPolicy,
    capacity: dict[str, Capacity],
    read: _Read,
) -> list[Candidate]:
    region = prices.region_of(clouds, cloud)
    named = spec.flavor_id or ""
    if not cloud.enabled:
        return [_flat(cloud, region, named, "the cloud is disabled")]
    if not clouds.module_enabled(cloud.driver):
        return [_flat(cloud, region, named, f"the {cloud.driver} adapter module is disabled")]
    if not clouds.module_available(cloud.driver):
        return [_flat(cloud, region, named, f"the {cloud.driver} adapter module is not installed here")]
    features = await clouds.features(cloud)
    wants_zone = spec.zone is not None or bool(policy.zones)
    lacking = [f for f in _needed(spec, spec.user_data) if f not in features]
    if wants_zone and Feature.ZONES not in features:
        lacking.append(Feature.ZONES)
    if lacking:
        words = ", ".join(_FEATURE_WORDS.get(f, f.value) for f in lacking)
        return [_flat(cloud, region, named, f"the {cloud.driver} adapter has no {words}")]
    try:
        if spec.template is not None:
            machine = await _from_template(uow, clouds, project_id, cloud, spec.template)
        else:
            machine = await _machine(clouds, cloud, spec)
        zones = [z.id for z in await clouds.zones(cloud.id) if z.available] if Feature.ZONES in features else [None]
    except CloudError as exc:
        return [_flat(cloud, region, named, f"the cloud did not answer: {errors.describe(exc)}")]
    if isinstance(machine, str):
        return [_flat(cloud, region, named, machine)]
    problem = None
    names = read.names
    if names is not None and spec.key_name is not None and not names.key_usable:
        problem = f"no key pair {spec.key_name} in this cloud"
    missing_groups = [g for g in spec.security_group_ids if names is not None and g not in names.group_provider_ids]
    if missing_groups:
        problem = f"no security group {missing_groups[0]} in this cloud"
    if spec.zone is not None:
        if spec.zone not in zones:
            problem = problem or f"no zone {spec.zone} in this cloud"
        zones = [spec.zone]
    catalog = read.catalog
    found = await _capacity(clouds, cloud, features)
    if found is not None:
        capacity[cloud.id] = found
    made = []
    for flavor, below in machine.flavors:
        # The flavor's price with what the image adds to it.
        price = prices.server_hourly(catalog.prices, region, flavor.id, machine.image_id) if catalog else None
        for zone in zones:
            made.append(
                Candidate(
                    cloud_id=cloud.id,
                    region=region,
                    zone=zone,
                    flavor_id=flavor.id,
                    vcpus=flavor.vcpus,
                    ram_mb=flavor.ram_mb,
                    disk_gb=flavor.disk_gb,
                    image_id=machine.image_id,
                    hourly=price,
                    currency=catalog.currency if catalog and price is not None else None,
                    rejected=problem or below,
                )
            )
    return made


async def gather(
    uow: UnitOfWork[PlacementStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    spec: ServerSpec,
    policy: PlacementPolicy,
    cloud_named_in: str | None = None,
) -> tuple[list[Candidate], Situation]:
    """Every candidate for the server among the project's clouds the policy allows, and where things are now."""
    now = datetime.now(UTC)
    async with uow.reading() as repos:
        if spec.template is not None:  # wherever it could run, a template the project does not have is refused
            t = spec.template
            owned(
                await repos.templates.launchable(project_id, t.template_id, t.version),
                "template",
                t.template_id,
                named_in="body.template_id",
            )
        allowed = await _clouds(repos, project_id, policy.cloud_ids, cloud_named_in)
        occupancy = await repos.placements.occupancy(project_id, policy.group)
        read = [await _read(repos, clouds, cloud, spec, now) for cloud in allowed]
    capacity: dict[str, Capacity] = {}
    candidates: list[Candidate] = []
    for cloud, known in zip(allowed, read, strict=True):
        candidates += await _candidates(uow, clouds, project_id, cloud, spec, policy, capacity, known)
    return candidates, Situation(capacity, occupancy.servers, occupancy.members)


async def place(
    uow: UnitOfWork[PlacementStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    spec: ServerSpec,
    policy: PlacementPolicy,
    count: int = 1,
    cloud_named_in: str | None = None,
) -> Placement:
    """Place `count` servers of `spec` by `policy` among the project's clouds. Raises NothingFits (422, with every
    candidate and why it was rejected) when fewer than `count` fit. `cloud_named_in`: the body field that named the
    policy's one cloud (an unknown one is a 422 naming it)."""
    candidates, situation = await gather(
        uow, clouds, project_id=project_id, spec=spec, policy=policy, cloud_named_in=cloud_named_in
    )
    decision = domain.decide(candidates, policy, situation, count)
    found = Placement(decision, candidates, policy, count)
    if not decision.complete:
        refused = NothingFits(
            f"The server cannot be placed: {decision.unplaced}.",
            errors=_fields(found) or [{"location": "body.placement", "message": decision.unplaced or "nothing fits"}],
            candidates=[verdict_json(v) for v in found.listed()],
            candidate_count=len(candidates),
        )
        weighed = {c.cloud_id for c in candidates}
        if len(weighed) == 1 and all(c.rejected is not None for c in candidates):
            refused.only_cloud = weighed.pop()
        raise refused
    return found


# What a rejection found in gathering says of a field of the request.
_FIELD_OF = (
    ("no image named", "body.requirements.image_name"),
    ("no image", "body.image_id"),
    ("no flavor", "body.flavor_id"),
    ("below the requirements", "body.requirements"),
    ("no key pair", "body.key_name"),
    ("no security group", "body.security_group_ids"),
    ("no zone", "body.zone"),
)


def _fields(found: Placement) -> list[dict[str, str]]:
    """The request's fields the rejections name, when every candidate was rejected for one of them: each once, in
    the words of its first rejection, with the clouds it was rejected in."""
    named: dict[str, tuple[str, set[str]]] = {}
    for c in found.candidates:
        why = c.rejected or ""
        location = next((where for start, where in _FIELD_OF if why.startswith(start)), None)
        if location is None or found.decision.placed:
            return []
        named.setdefault(location, (why.removesuffix(" in this cloud"), set()))[1].add(c.cloud_id)
    return [
        {"location": where, "message": f"{why} (clouds {', '.join(sorted(clouds))})"}
        for where, (why, clouds) in named.items()
    ]


def verdict_json(v: domain.Verdict, *, decimals: bool = False) -> dict[str, Any]:
    """A verdict as problem JSON carries it (amounts as strings, like every price; `decimals`: as they are, for an
    answer model)."""
    c = v.candidate
    hourly: object = c.hourly if decimals or c.hourly is None else str(c.hourly)
    return {
        "cloud_id": c.cloud_id,
        "region": c.region,
        "zone": c.zone,
        "flavor_id": c.flavor_id,
        "image_id": c.image_id,
        "hourly": hourly,
        "currency": c.currency,
        "score": None if v.score is None else round(v.score, 6),
        "rejected": v.rejected,
        "placed": v.placed,
        "note": v.note,
    }


def only_cloud(policy: PlacementPolicy, cloud_id: str) -> PlacementPolicy:
    """The policy, held to one cloud (a request that names its cloud)."""
    return replace(policy, cloud_ids=(cloud_id,))


def note(policy: PlacementPolicy, score: float) -> dict[str, object]:
    """What an instance keeps of why it is where it is: the strategy, its score, and the group it joined."""
    return {"strategy": policy.strategy, "score": round(score, 6), "group": policy.group}


__all__ = [
    "LISTED",
    "FromTemplate",
    "NothingFits",
    "Placement",
    "PlacementStore",
    "ServerSpec",
    "gather",
    "note",
    "only_cloud",
    "place",
    "verdict_json",
]
