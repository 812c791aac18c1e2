"""The allocator's rules, without I/O: where servers may go (filters), how good each place is (weighers), and the
choice, Nova-scheduler style: filter every candidate, weigh the survivors, take the best, break ties at random (with a
seed, the same every time). Placing several servers in one decision counts each one placed before the next is
chosen, so spread and anti-affinity hold across them and capacity runs out as it would.

A candidate is one (cloud, zone, flavor) the project may use; what was learned while gathering it (a module that is
disabled, an image the cloud lacks, a flavor below the requirements) arrives as its `rejected` reason, and the
filters here add what depends on the decision: price, capacity, affinity and anti-affinity.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Strategy = Literal["cheapest", "spread", "pack"]
Affinity = Literal["none", "affinity", "anti_affinity"]
Scope = Literal["zone", "cloud"]

# How much the smallest-sufficient-flavor weigher counts beside the strategy's own (Nova's weigher multipliers).
FLAVOR_WEIGHT = 0.1
# Scores closer than this are a tie.
TIE = 1e-9


@dataclass(frozen=True)
class PlacementPolicy:
    """How a launch is placed. `cloud_ids` and `zones` narrow where (empty: anywhere the project may launch);
    `group` names the set whose members `affinity` keeps together or apart (by zone or cloud); `seed` makes ties
    break the same way every time."""

    strategy: Strategy = "cheapest"
    cloud_ids: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    group: str | None = None
    affinity: Affinity = "none"
    anti_affinity_scope: Scope = "zone"
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Capacity:
    """What an account may still take: instances, vCPUs, RAM (None: no limit, or not known)."""

    instances: int | None = None
    vcpus: int | None = None
    ram_mb: int | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a server may go: a cloud, its region and zone (None: a cloud without zones), a flavor and the image
    it would boot there, the flavor's hourly price in force, and why it cannot be used (None: it can, so far)."""

    cloud_id: str
    region: str | None
    zone: str | None
    flavor_id: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    image_id: str | None = None
    hourly: Decimal | None = None
    currency: str | None = None
    rejected: str | None = None


@dataclass(frozen=True)
class Situation:
    """What the decision starts from: each account's capacity (missing: unknown), and where the project's servers
    and the group's members are now, counted by (cloud, zone)."""

    capacity: Mapping[str, Capacity] = field(default_factory=dict)
    project_servers: Mapping[tuple[str, str | None], int] = field(default_factory=dict)
    group_members: Mapping[tuple[str, str | None], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placed:
    """One server's place: the candidate's index among those given, and its score when it was chosen."""

    candidate: int
    score: float


@dataclass(frozen=True)
class Verdict:
    """What became of one candidate: its score in the first choice (None: rejected then), why it was rejected, how
    many servers it took, and a note (capacity unknown)."""

    candidate: Candidate
    score: float | None
    rejected: str | None
    placed: int
    note: str | None


@dataclass(frozen=True)
class Decision:
    placed: list[Placed]
    # The currency prices were compared in (cheapest), and why fewer servers than asked were placed.
    currency: str | None
    unplaced: str | None
    # What the verdicts are made of, only when asked for (a decision is cheaper than explaining it).
    candidates: Sequence[Candidate] = field(default=(), repr=False)
    reasons: Sequence[str | None] = field(default=(), repr=False)
    scores: Mapping[int, float] = field(default_factory=dict, repr=False)
    capacity_known: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def complete(self) -> bool:
        return self.unplaced is None

    @property
    def verdicts(self) -> list[Verdict]:
        """What became of each candidate, in the order given."""
        taken = Counter(p.candidate for p in self.placed)
        unknown = "capacity unknown: the cloud does not report quotas"
        return [
            Verdict(
                candidate=c,
                score=self.scores.get(i),
                rejected=self.reasons[i],
                placed=taken[i],
                note=None if c.cloud_id in self.capacity_known or c.rejected is not None else unknown,
            )
            for i, c in enumerate(self.candidates)
        ]


def _currency(candidates: Sequence[Candidate]) -> str | None:
    """The currency most open candidates are priced in (alphabetical first on a tie): prices in two currencies cannot
    be compared."""
    counts = Counter(c.currency for c in candidates if c.rejected is None and c.hourly is not None and c.currency)
    if not counts:
        return None
    return min(counts, key=lambda cur: (-counts[cur], cur))


def _static(c: Candidate, policy: PlacementPolicy, currency: str | None) -> str | None:
    """Why a candidate can never be used in this decision, whatever is placed before it."""
    if c.rejected is not None:
        return c.rejected
    if policy.cloud_ids and c.cloud_id not in policy.cloud_ids:
        return "not among the clouds the policy allows"
    if policy.zones and c.zone not in policy.zones:
        return "not among the zones the policy allows"
    if policy.strategy == "cheapest":
        if c.hourly is None:
            return "no price for this flavor in the cloud's catalog: the cheapest strategy compares prices"
        if c.currency != currency:
            return f"priced in {c.currency}, the others in {currency}: prices in two currencies are not compared"
    return None


class _Tally:
    """What the decision has used so far: capacity left per cloud, servers per (cloud, zone) and per cloud."""

    def __init__(self, situation: Situation) -> None:
        self.left = {cloud: [cap.instances, cap.vcpus, cap.ram_mb] for cloud, cap in situation.capacity.items()}
        self.servers: Counter[tuple[str, str | None]] = Counter(situation.project_servers)
        self.members: Counter[tuple[str, str | None]] = Counter(situation.group_members)
        self.servers_by_cloud: Counter[str] = Counter()
        self.members_by_cloud: Counter[str] = Counter()
        for (cloud, _), n in self.servers.items():
            self.servers_by_cloud[cloud] += n
        for (cloud, _), n in self.members.items():
            self.members_by_cloud[cloud] += n

    def capacity_problem(self, c: Candidate) -> str | None:
        left = self.left.get(c.cloud_id)
        if left is None:
            return None
        instances, vcpus, ram = left
        if instances is not None and instances < 1:
            return "capacity exhausted: no instance left in the cloud's quota"
        if vcpus is not None and vcpus < c.vcpus:
            return f"capacity exhausted: {vcpus} vCPUs left, the flavor needs {c.vcpus}"
        if ram is not None and ram < c.ram_mb:
            return f"capacity exhausted: {ram} MB of RAM left, the flavor needs {c.ram_mb}"
        return None

    def take(self, c: Candidate, group: bool) -> None:
        left = self.left.get(c.cloud_id)
        if left is not None:
            for i, used in enumerate((1, c.vcpus, c.ram_mb)):
                if left[i] is not None:
                    left[i] = max(int(left[i] or 0) - used, 0)
        place = (c.cloud_id, c.zone)
        self.servers[place] += 1
        self.servers_by_cloud[c.cloud_id] += 1
        if group:
            self.members[place] += 1
            self.members_by_cloud[c.cloud_id] += 1


def _affinity_problem(c: Candidate, policy: PlacementPolicy, tally: _Tally) -> str | None:
    if policy.group is None or policy.affinity == "none":
        return None
    by_zone = policy.anti_affinity_scope == "zone"
    where = "zone" if by_zone else "cloud"
    here = tally.members[(c.cloud_id, c.zone)] if by_zone else tally.members_by_cloud[c.cloud_id]
    if policy.affinity == "anti_affinity":
        return f"anti-affinity: a member of the group is already in this {where}" if here else None
    anywhere = sum(tally.members_by_cloud.values())
    return f"affinity: the group's members are in another {where}" if anywhere and not here else None


def _spread(c: Candidate, policy: PlacementPolicy, tally: _Tally) -> int:
    """Servers near the candidate: in its zone and, counted again, in its cloud (so that a new cloud beats a new
    zone of a cloud in use); the group's members when the policy names a group, else the project's servers."""
    if policy.group is not None:
        return tally.members[(c.cloud_id, c.zone)] + tally.members_by_cloud[c.cloud_id]
    return tally.servers[(c.cloud_id, c.zone)] + tally.servers_by_cloud[c.cloud_id]


def _normalised(values: Sequence[float], *, lower_is_better: bool) -> list[float]:
    """Each value in [0, 1] among the others, 1 for the best (all 1 when they are equal)."""
    lo, hi = min(values), max(values)
    if hi - lo < TIE:
        return [1.0] * len(values)
    span = hi - lo
    return [(hi - v) / span if lower_is_better else (v - lo) / span for v in values]


def _scores(open_: Sequence[Candidate], policy: PlacementPolicy, tally: _Tally) -> list[float]:
    size = _normalised([c.vcpus * 1024.0 + c.ram_mb + c.disk_gb / 1024.0 for c in open_], lower_is_better=True)
    if policy.strategy == "cheapest":
        main = _normalised([float(c.hourly or 0) for c in open_], lower_is_better=True)
    else:
        main = _normalised(
            [float(_spread(c, policy, tally)) for c in open_], lower_is_better=policy.strategy == "spread"
        )
    return [m + FLAVOR_WEIGHT * s for m, s in zip(main, size, strict=True)]


def decide(candidates: Sequence[Candidate], policy: PlacementPolicy, situation: Situation, count: int = 1) -> Decision:
    """Place `count` servers among `candidates` by `policy`. Cost: O(candidates) per server."""
    rng = random.Random(policy.seed)  # noqa: S311 - a tie-break, not a secret
    currency = _currency(candidates) if policy.strategy == "cheapest" else None
    fixed = [_static(c, policy, currency) for c in candidates]
    usable = [i for i, why in enumerate(fixed) if why is None]
    tally = _Tally(situation)
    first_score: dict[int, float] = {}
    first_rejection: dict[int, str] = {}
    placed: list[Placed] = []
    unplaced = None
    grouped = policy.group is not None
    for n in range(count):
        open_: list[int] = []
        now_rejected: dict[int, str] = {}
        for i in usable:
            why = tally.capacity_problem(candidates[i]) or _affinity_problem(candidates[i], policy, tally)
            if why is None:
                open_.append(i)
            else:
                now_rejected[i] = why
        if n == 0:
            first_rejection = now_rejected
        if not open_:
            unplaced = _why_none(candidates, fixed, now_rejected, n, count)
            break
        scores = _scores([candidates[i] for i in open_], policy, tally)
        if n == 0:
            first_score = dict(zip(open_, scores, strict=True))
        best = max(scores)
        tied = [i for i, s in zip(open_, scores, strict=True) if best - s < TIE]
        chosen = tied[0] if len(tied) == 1 else rng.choice(tied)
        placed.append(Placed(chosen, best))
        tally.take(candidates[chosen], grouped)
    reasons = [why or first_rejection.get(i) for i, why in enumerate(fixed)]
    known = frozenset(situation.capacity)
    return Decision(placed, currency, unplaced, candidates, reasons, first_score, known)


def _why_none(
    candidates: Sequence[Candidate], fixed: Sequence[str | None], first: Mapping[int, str], n: int, count: int
) -> str:
    if not candidates:
        return "no cloud the project may use offers a place for it"
    reasons = Counter(fixed[i] or first.get(i) or "" for i in range(len(candidates)))
    common = ", ".join(f"{why} ({k})" for why, k in reasons.most_common(3) if why)
    if n == 0:
        return f"no candidate fits: {common}" if common else "no candidate fits"
    return f"only {n} of {count} servers fit; then: {common}" if common else f"only {n} of {count} servers fit"


def counted(places: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], int]:
    """Servers per (cloud, zone), from where each one is."""
    return dict(Counter(places))


__all__ = [
    "Affinity",
    "Candidate",
    "Capacity",
    "Decision",
    "Placed",
    "PlacementPolicy",
    "Scope",
    "Situation",
    "Strategy",
    "Verdict",
    "counted",
    "decide",
]
