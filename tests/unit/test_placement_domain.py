"""The allocator's rules: filters with reasons, the strategies' weighers, seeded tie-breaks, and N servers placed in
one decision counting each one placed."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from services.provisioner.placement.domain import (
    Candidate,
    Capacity,
    PlacementPolicy,
    Situation,
    decide,
)


def _c(cloud: str, zone: str | None, flavor: str = "small", price: str | None = "0.10", **more: object) -> Candidate:
    sizes = {"small": (1, 1024, 10), "medium": (2, 4096, 20), "large": (4, 8192, 40)}[flavor]
    fields: dict[str, object] = {
        "cloud_id": cloud,
        "region": "r",
        "zone": zone,
        "flavor_id": flavor,
        "vcpus": sizes[0],
        "ram_mb": sizes[1],
        "disk_gb": sizes[2],
        "image_id": "img",
        "hourly": None if price is None else Decimal(price),
        "currency": None if price is None else "USD",
    }
    fields.update(more)
    return Candidate(**fields)  # type: ignore[arg-type]


def _where(decision_candidates: list[Candidate], placed: list[int]) -> list[tuple[str, str | None]]:
    return [(decision_candidates[i].cloud_id, decision_candidates[i].zone) for i in placed]


def test_cheapest_takes_the_lowest_price_and_explains_the_rejected() -> None:
    cands = [_c("a", "a1", price="0.20"), _c("b", "b1", price="0.05"), _c("c", "c1", price=None)]
    decision = decide(cands, PlacementPolicy(), Situation(capacity={"a": Capacity(), "b": Capacity()}))
    assert [p.candidate for p in decision.placed] == [1]
    by_cloud = {v.candidate.cloud_id: v for v in decision.verdicts}
    assert by_cloud["b"].placed == 1 and by_cloud["b"].score is not None
    assert by_cloud["a"].score is not None and by_cloud["a"].score < by_cloud["b"].score
    assert "cheapest strategy compares prices" in (by_cloud["c"].rejected or "")
    assert by_cloud["c"].note is not None and "capacity unknown" in by_cloud["c"].note
    assert by_cloud["a"].note is None


def test_prices_in_another_currency_are_not_compared() -> None:
    cands = [_c("a", None, price="0.01", currency="EUR"), _c("b", None), _c("c", None, price="0.20")]
    decision = decide(cands, PlacementPolicy(), Situation())
    assert decision.currency == "USD"
    assert [p.candidate for p in decision.placed] == [1]
    assert "two currencies" in (decision.verdicts[0].rejected or "")


def test_spread_puts_each_server_in_the_emptiest_cloud_and_zone() -> None:
    cands = [_c(cloud, f"{cloud}{z}") for cloud in ("a", "b") for z in (1, 2)]
    decision = decide(cands, PlacementPolicy(strategy="spread", seed=7), Situation(), count=4)
    where = _where(cands, [p.candidate for p in decision.placed])
    assert sorted(where) == [("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")]
    assert {where[0][0], where[1][0]} == {"a", "b"}, "a second cloud before a second zone"


def test_spread_counts_the_servers_already_there() -> None:
    cands = [_c("a", "a1"), _c("b", "b1")]
    decision = decide(cands, PlacementPolicy(strategy="spread"), Situation(project_servers={("a", "a1"): 3}), count=2)
    assert _where(cands, [p.candidate for p in decision.placed])[0] == ("b", "b1")


def test_pack_fills_where_servers_are() -> None:
    cands = [_c("a", "a1"), _c("b", "b1")]
    decision = decide(cands, PlacementPolicy(strategy="pack"), Situation(project_servers={("b", "b1"): 1}), count=3)
    assert _where(cands, [p.candidate for p in decision.placed]) == [("b", "b1")] * 3


def test_the_smallest_sufficient_flavor_wins_a_tie_of_the_strategy() -> None:
    cands = [_c("a", "a1", "large", price="0.10"), _c("a", "a1", "small", price="0.10")]
    decision = decide(cands, PlacementPolicy(), Situation())
    assert cands[decision.placed[0].candidate].flavor_id == "small"


def test_ties_break_at_random_the_same_way_for_a_seed() -> None:
    cands = [_c(c, f"{c}1") for c in "abcdefgh"]
    chosen = {decide(cands, PlacementPolicy(seed=s), Situation()).placed[0].candidate for s in range(40)}
    assert len(chosen) > 3, "ties are broken at random"
    again = [decide(cands, PlacementPolicy(seed=11), Situation()).placed[0].candidate for _ in range(5)]
    assert len(set(again)) == 1, "the same seed, the same choice"


def test_anti_affinity_keeps_members_apart_by_zone_or_cloud() -> None:
    cands = [_c("a", "a1"), _c("a", "a2"), _c("b", "b1")]
    by_zone = PlacementPolicy(strategy="pack", group="web", affinity="anti_affinity", seed=1)
    decision = decide(cands, by_zone, Situation(group_members={("a", "a1"): 1}), count=2)
    assert sorted(_where(cands, [p.candidate for p in decision.placed])) == [("a", "a2"), ("b", "b1")]
    assert "anti-affinity" in (decision.verdicts[0].rejected or "")
    by_cloud = PlacementPolicy(group="web", affinity="anti_affinity", anti_affinity_scope="cloud")
    decision = decide(cands, by_cloud, Situation(), count=3)
    assert len(decision.placed) == 2 and decision.unplaced is not None
    assert "only 2 of 3" in decision.unplaced and "anti-affinity" in decision.unplaced


def test_affinity_follows_the_group_and_the_first_member_is_free() -> None:
    cands = [_c("a", "a1", price="0.05"), _c("b", "b1", price="0.01")]
    together = PlacementPolicy(group="db", affinity="affinity")
    first = decide(cands, together, Situation(), count=3)
    assert _where(cands, [p.candidate for p in first.placed]) == [("b", "b1")] * 3
    joined = decide(cands, together, Situation(group_members={("a", "a1"): 2}))
    assert _where(cands, [p.candidate for p in joined.placed]) == [("a", "a1")]
    assert "affinity" in (joined.verdicts[1].rejected or "")


def test_capacity_runs_out_within_one_decision() -> None:
    cands = [_c("a", "a1", "medium", price="0.01"), _c("b", "b1", "medium", price="0.50")]
    situation = Situation(capacity={"a": Capacity(instances=10, vcpus=5, ram_mb=None), "b": Capacity()})
    decision = decide(cands, PlacementPolicy(), situation, count=3)
    assert Counter(_where(cands, [p.candidate for p in decision.placed])) == {("a", "a1"): 2, ("b", "b1"): 1}
    full = decide(cands[:1], PlacementPolicy(), Situation(capacity={"a": Capacity(instances=0)}))
    assert full.placed == [] and "no instance left" in (full.unplaced or "")
    ram = decide(cands[:1], PlacementPolicy(), Situation(capacity={"a": Capacity(ram_mb=1000)}))
    assert "1000 MB of RAM left" in (ram.verdicts[0].rejected or "")


def test_rejections_from_gathering_and_the_policy_are_kept() -> None:
    cands = [_c("a", "a1", rejected="no image img in a"), _c("b", "b1"), _c("b", "b2")]
    decision = decide(cands, PlacementPolicy(zones=("b2",)), Situation())
    assert _where(cands, [p.candidate for p in decision.placed]) == [("b", "b2")]
    assert decision.verdicts[0].rejected == "no image img in a"
    assert "zones the policy allows" in (decision.verdicts[1].rejected or "")
    nothing = decide([], PlacementPolicy(), Situation())
    assert nothing.placed == [] and nothing.unplaced is not None and not nothing.complete


def test_a_decision_costs_the_same_per_server_however_many_are_placed() -> None:
    cands = [_c(f"c{c}", f"z{z}", f) for c in range(5) for z in range(4) for f in ("small", "medium", "large")]
    decision = decide(cands, PlacementPolicy(strategy="spread", seed=3), Situation(), count=60)
    assert len(decision.placed) == 60
    per_place = Counter(_where(cands, [p.candidate for p in decision.placed]))
    assert set(per_place.values()) == {3}, "60 servers over 20 places: three each"
