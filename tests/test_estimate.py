"""Estimates: exact when small, sampled and honest when large; breakdowns and overlaps."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from segmentation import SegmentationService
from segmentation import estimate as estimates
from segmentation.bins import bins
from segmentation.errors import InvalidInputError
from segmentation.pql import parse, to_pql
from tests.conftest import AS_OF, EVENT_TYPES, make_frames


def exact_count(svc: SegmentationService, pql: str) -> int:
    return svc.preview(pql, as_of=AS_OF, limit=1).total


def test_small_workspace_is_counted_exactly(svc: SegmentationService, frames):
    profiles, _ = frames
    est = svc.estimate('country = "US"', as_of=AS_OF)
    expected = int((profiles["country"] == "US").sum())
    assert est.exact
    assert est.estimated_size == est.low == est.high == expected
    assert est.standard_error == 0 and est.profiles_read == 400


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> SegmentationService:
    folder = tmp_path_factory.mktemp("big")
    profiles, events = make_frames(n_profiles=20_000, n_events=200_000, seed=11)
    profiles.to_parquet(folder / "p.parquet")
    events.to_parquet(folder / "e.parquet")
    svc = SegmentationService.open(":memory:", exports_dir=folder / "exports")
    svc.ingest("profiles", folder / "p.parquet")
    svc.ingest("events", folder / "e.parquet")
    info = estimates.refresh_sample(svc.db, threshold=5_000, target=150)
    assert info.sampled and info.slices == 16
    assert all(100 < n < 250 for n in info.profiles)
    yield svc
    svc.close()


def random_segment(rng: random.Random) -> str:
    """A random mix of attribute and event conditions, no two atoms alike."""
    atoms = [
        lambda: f"age > {rng.randint(18, 80)}",
        lambda: f"age < {rng.randint(18, 80)}",
        lambda: f"country in {sorted(rng.sample(['US', 'DE', 'FR', 'GB'], rng.randint(1, 3)))}",
        lambda: f'loyaltyTier = "{rng.choice(["none", "silver", "gold"])}"',
        lambda: (
            f'xEvent[eventType = "{rng.choice(EVENT_TYPES)}" and timestamp occurs '
            f"<= {rng.randint(1, 120)} days before now].count() >= {rng.randint(1, 4)}"
        ),
    ]
    chosen = rng.sample(atoms, rng.randint(1, 3))
    joiner = rng.choice([" and ", " or "])
    return joiner.join(atom() for atom in chosen).replace("'", '"')


def test_interval_covers_the_exact_count_at_least_93_percent(big: SegmentationService):
    rng = random.Random(2026)
    covered, total = 0, 200
    for _ in range(total):
        pql = random_segment(rng)
        est = big.estimate(pql, as_of=AS_OF)
        assert not est.exact and est.low <= est.estimated_size <= est.high
        covered += est.low <= exact_count(big, pql) <= est.high
    assert covered / total >= 0.93, f"covered {covered} of {total}"


def test_sampled_estimate_repeats_exactly(big: SegmentationService):
    pql = 'xEvent[eventType = "purchase"].count() >= 2'
    first, second = big.estimate(pql, as_of=AS_OF), big.estimate(pql, as_of=AS_OF)
    assert first == second
    assert first.profiles_read == first.sample_size < first.total_profiles == 20_000


def test_breakdown_sums_to_the_estimate(big: SegmentationService):
    pql = "age > 40"
    table = big.breakdown(pql, "country", as_of=AS_OF)
    assert set(table["value"]) == {"US", "DE", "FR", "GB", "(missing)"}
    assert table["matched"].sum() == big.estimate(pql, as_of=AS_OF).profiles_matched
    assert (table["low"] <= table["estimated_size"]).all()
    assert (table["estimated_size"] <= table["high"]).all()


def test_a_breakdown_by_a_number_or_a_date_is_in_ranges_in_order(tmp_path):
    rows = ["profile_id,age,joined"] + [
        f"p{i},{'' if i % 10 == 0 else 18 + i % 62},{dt.date(2023, 1, 1) + dt.timedelta(days=i)}"
        for i in range(900)
    ]
    (tmp_path / "p.csv").write_text("\n".join(rows))
    svc = SegmentationService.open(":memory:", exports_dir=tmp_path / "exports")
    svc.ingest("profiles", tmp_path / "p.csv")
    pql = "profile_id.isNotNull()"
    ages = svc.breakdown(pql, "age")
    assert list(ages["value"]) == [f"{k} to {k + 10}" for k in range(10, 80, 10)] + ["(missing)"]
    assert list(ages["position"]) == list(range(len(ages)))
    assert ages["matched"].sum() == 900
    joined = svc.breakdown(pql, "joined")  # 2023-01-01 to 2025-06-18: quarters
    assert joined["value"].iloc[0] == "Q1 2023" and joined["value"].iloc[-1] == "Q2 2025"
    assert len(joined) == 10 and joined["matched"].sum() == 900
    svc.close()


@pytest.mark.parametrize(
    ("kind", "lo", "hi", "labels"),
    [
        ("number", 0.5, 7.5, {0: "0 to 1", 7: "7 to 8"}),
        ("number", 0, 250_000, {0: "0 to 50,000", 5: "250,000 to 300,000"}),
        ("number", 0.01, 0.09, {1: "0.01 to 0.02"}),
        ("date", dt.date(2026, 1, 5), dt.date(2026, 11, 2), {202601: "Jan 2026"}),
        ("date", dt.date(2024, 1, 5), dt.date(2026, 11, 2), {20241: "Q1 2024"}),
        ("timestamp", dt.datetime(1990, 1, 1), dt.datetime(2026, 1, 1), {398: "1990 to 1994"}),
        ("number", 3, 3, None),  # one value: nothing to split
        ("text", "a", "z", None),
    ],
)
def test_range_labels(kind, lo, hi, labels):
    found = bins("x", kind, lo, hi)
    if labels is None:
        assert found is None
    else:
        assert {k: found.label(k) for k in labels} == labels


def test_breakdown_of_unknown_column(svc: SegmentationService):
    with pytest.raises(InvalidInputError, match="nope"):
        svc.breakdown("age > 1", "nope")


def test_overlap_counts_and_jaccard(svc: SegmentationService, frames):
    profiles, _ = frames
    table = svc.overlap({"US": 'country = "US"', "gold": 'loyaltyTier = "gold"'}, as_of=AS_OF)
    us = set(profiles[profiles["country"] == "US"]["profile_id"])
    gold = set(profiles[profiles["loyaltyTier"] == "gold"]["profile_id"])
    row = table[(table["segment_a"] == "US") & (table["segment_b"] == "gold")].iloc[0]
    assert row["intersection"] == len(us & gold)
    assert row["jaccard"] == pytest.approx(len(us & gold) / len(us | gold))
    diagonal = table[table["segment_a"] == table["segment_b"]]
    assert set(diagonal["jaccard"]) == {1.0}


@pytest.mark.parametrize(
    ("matched", "read", "total"),
    [(0, 1000, 100_000), (1000, 1000, 100_000), (500, 1000, 1000), (3, 10, 1_000_000)],
)
def test_wilson_interval_edges(matched, read, total):
    se, low, high = estimates.wilson_interval(matched, read, total)
    assert 0 <= low <= high <= total
    assert low >= matched and high <= total - (read - matched)
    if read == total:
        assert low == high == matched and se == 0


def test_waterfall_shows_each_condition_and_the_running_size(svc: SegmentationService, frames):
    profiles, _ = frames
    table = svc.waterfall('country = "US" and loyaltyTier = "gold" and age > 40', as_of=AS_OF)
    us = profiles["country"] == "US"
    gold = profiles["loyaltyTier"] == "gold"
    old = profiles["age"] > 40
    assert list(table["condition"]) == ['country = "US"', 'loyaltyTier = "gold"', "age > 40"]
    assert list(table["alone"]) == [us.sum(), gold.sum(), old.sum()]
    assert list(table["so_far"]) == [us.sum(), (us & gold).sum(), (us & gold & old).sum()]


def test_last_evaluation_flags_stale_members(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    assert svc.last_evaluation(d.id) is None
    svc.jobs.run([d.id], as_of=AS_OF)
    assert svc.last_evaluation(d.id)["stale"] is False
    svc.definitions.update(d.id, pql='loyaltyTier = "silver"')
    last = svc.last_evaluation(d.id)
    assert last["stale"] is True and last["version"] == 1


def test_sampled_estimate_reads_profile_attributes_inside_event_filters(big):
    """The sample's events are joined with the sample's profiles: the slice's count is
    exactly the members among the slice's profiles."""
    pql = "xEvent[revenue > $1.age * 3].count() >= 1"
    est = big.estimate(pql, as_of=AS_OF)
    index = estimates.pick_slice(to_pql(parse(pql)), estimates.sample_info(big.db))
    in_slice = {r[0] for r in big.db.rows(f"SELECT profile_id FROM sample_profiles_{index}")}
    sql, params = big.compile(pql, as_of=AS_OF)
    members = {r[0] for r in big.db.rows(sql, params)}
    assert not est.exact and est.profiles_read == len(in_slice)
    assert est.profiles_matched == len(members & in_slice) > 0
