"""Engines: the same workspace evaluated by DuckDB and by Spark gives the same answers;
a Spark workspace keeps its data as Parquet; bad settings are refused clearly."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segmentation import SegmentationService
from segmentation.errors import ConflictError, InvalidInputError, SegmentationError
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[1]
RECENT_BUYERS = (
    'xEvent[eventType = "purchase" and timestamp occurs <= 7 days before now].count() >= 1'
)
SEGMENTS = {
    "Recent buyers": RECENT_BUYERS,
    "US": 'country = "US"',
    "Carted then bought": 'chain(xEvent, timestamp, [A: WHAT(eventType = "add_to_cart"), '
    'B: WHAT(eventType = "purchase") WHEN(<= 2 days after A)])',
    "Carts, no recent buy": 'xEvent[eventType = "add_to_cart"].count() >= 2 '
    'and not inSegment("Recent buyers")',
}


def _workspaces(tmp_path: Path, frames, spark_session):
    profiles, events = frames
    profiles.to_csv(tmp_path / "profiles.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    duck = SegmentationService.open(tmp_path / "duck.duckdb", exports_dir=tmp_path / "dx")
    spark = SegmentationService.open(tmp_path / "spark.duckdb", exports_dir=tmp_path / "sx")
    lake = tmp_path / "lake"
    lake.mkdir()
    spark.set_engine("spark", master="local[2]", data=lake)
    for svc in (duck, spark):
        svc.ingest("profiles", tmp_path / "profiles.csv")
        svc.ingest("events", tmp_path / "events.csv")
    return duck, spark, lake


def _members(svc: SegmentationService, ids: dict[str, str]) -> dict[str, pd.DataFrame]:
    return {
        name: svc.members(ident, ["realized", "existing", "exited"])[["profile_id", "status"]]
        for name, ident in ids.items()
    }


@pytest.mark.spark
def test_spark_workspace_gives_duckdbs_answers(tmp_path, frames, spark_session):
    duck, spark, lake = _workspaces(tmp_path, frames, spark_session)
    try:
        assert (duck.engine, spark.engine) == ("duckdb", "spark")
        assert spark.engine_config.master == "local[2]"
        # the Spark workspace's data lives as Parquet under the data location
        assert list((lake / "profiles").glob("*.parquet")) and list(
            (lake / "events").glob("*.parquet")
        )
        ids: dict[str, dict[str, str]] = {"duck": {}, "spark": {}}
        for key, svc in (("duck", duck), ("spark", spark)):
            for name, pql in SEGMENTS.items():
                ids[key][name] = svc.definitions.create(name=name, pql=pql).id
        # two runs a week apart: entered, stayed and left all happen
        runs = []
        for as_of in (AS_OF - dt.timedelta(days=7), AS_OF):
            a = duck.jobs.run(list(ids["duck"].values()), as_of=as_of)
            b = spark.jobs.run(list(ids["spark"].values()), as_of=as_of)
            assert (a.status, b.status, a.engine, b.engine) == (
                "SUCCEEDED",
                "SUCCEEDED",
                "duckdb",
                "spark",
            )
            runs.append((_members(duck, ids["duck"]), _members(spark, ids["spark"])))
        for mine, theirs in runs:
            for name in SEGMENTS:
                pd.testing.assert_frame_equal(mine[name], theirs[name])
        statuses = set(runs[1][0]["Recent buyers"]["status"])
        assert statuses == {"realized", "existing", "exited"}
        assert spark.jobs.get(b.id).engine == "spark"

        page_a = duck.preview(SEGMENTS["US"], as_of=AS_OF, limit=20, offset=20)
        page_b = spark.preview(SEGMENTS["US"], as_of=AS_OF, limit=20, offset=20)
        assert (page_b.engine, page_b.total, page_b.next_offset) == (
            "spark",
            page_a.total,
            page_a.next_offset,
        )
        pd.testing.assert_frame_equal(page_a.rows, page_b.rows)

        est_a = duck.estimate(SEGMENTS["Carts, no recent buy"], as_of=AS_OF)
        est_b = spark.estimate(SEGMENTS["Carts, no recent buy"], as_of=AS_OF)
        assert est_b.engine == "spark"
        assert est_a.model_dump(exclude={"engine"}) == est_b.model_dump(exclude={"engine"})
        for column in ("country", "age", "birthDate"):  # values, number and date ranges
            pd.testing.assert_frame_equal(
                duck.breakdown(SEGMENTS["US"], column, as_of=AS_OF),
                spark.breakdown(SEGMENTS["US"], column, as_of=AS_OF),
            )

        exports = []
        for key, svc in (("duck", duck), ("spark", spark)):
            job = svc.exports.create({"segments": [ids[key]["US"]], "fields": ["country", "age"]})
            assert job.status == "SUCCEEDED", job.error
            exports.append(pd.read_csv(job.files[0]).drop(columns="segment_id"))
        pd.testing.assert_frame_equal(*exports)
        assert len(exports[0]) == page_a.total

        # Spark fails on the segments that read events (their files gone): those keep
        # their membership, and the one-line reason is the segment's error
        before = _members(spark, ids["spark"])
        shutil.rmtree(lake / "events")
        job = spark.jobs.run(list(ids["spark"].values()), as_of=AS_OF + dt.timedelta(days=1))
        by_name = {s.name: s for s in job.segments}
        assert by_name["US"].status == "SUCCEEDED"
        for name in ("Recent buyers", "Carted then bought", "Carts, no recent buy"):
            error = by_name[name].error or ""
            assert by_name[name].status == "FAILED" and error.startswith("Spark")
            assert "\tat " not in error and "Traceback" not in error and "\n" not in error
        after = _members(spark, ids["spark"])
        for name in SEGMENTS:
            pd.testing.assert_frame_equal(before[name], after[name])
    finally:
        duck.close()
        spark.close()


@pytest.mark.spark
def test_sampled_estimates_pick_the_same_profiles_on_both_engines(tmp_path, spark_session):
    """Above the exact threshold both engines read the same md5 slice: same interval
    (with an event filter reading a profile attribute: the slice's events meet the
    slice's profiles on both)."""
    from segmentation import estimate
    from tests.conftest import make_frames

    profiles, events = make_frames(n_profiles=3000, n_events=6000)
    profiles.to_parquet(tmp_path / "profiles.parquet")
    events.to_parquet(tmp_path / "events.parquet")
    duck = SegmentationService.open(tmp_path / "duck.duckdb")
    spark = SegmentationService.open(tmp_path / "spark.duckdb")
    (tmp_path / "lake").mkdir()
    spark.set_engine("spark", master="local[2]", data=tmp_path / "lake")
    try:
        for svc in (duck, spark):
            svc.ingest("profiles", tmp_path / "profiles.parquet")
            svc.ingest("events", tmp_path / "events.parquet")
        info = estimate.refresh_sample(duck.db, threshold=1000, target=150)
        assert info.sampled and info.slices > 1
        expr = duck.expression(
            'country = "US" and xEvent[eventType = "purchase"].count() >= 1 '
            'or xEvent[eventType = "purchase" and revenue > $1.age * 3].count() >= 1'
        )
        on_duck, on_spark = duck._compiler_for(expr, AS_OF), spark._compiler_for(expr, AS_OF)
        for index in (0, info.slices - 1):  # the sample tables' slice = Spark's md5 range
            got_duck = duck._engine.rows(*on_duck(duck._engine.slice_options(index, info)))
            got_spark = spark._engine.rows(*on_spark(spark._engine.slice_options(index, info)))
            assert sorted(got_duck) == sorted(got_spark) and got_duck
    finally:
        duck.close()
        spark.close()


# --- bad settings ----------------------------------------------------------------------


def test_set_engine_refuses_bad_settings(tmp_path, svc):
    with pytest.raises(InvalidInputError, match="needs --data"):
        svc.set_engine("spark", master="local[2]")
    with pytest.raises(InvalidInputError, match="not a folder"):
        svc.set_engine("spark", master="local[2]", data=tmp_path / "missing")
    (tmp_path / "lake").mkdir()
    with pytest.raises(InvalidInputError, match="Unknown Spark master 'yarn'"):
        svc.set_engine("spark", master="yarn", data=tmp_path / "lake")
    with pytest.raises(InvalidInputError, match="Unknown engine"):
        svc.set_engine("presto")
    assert svc.engine == "duckdb"  # nothing changed


@pytest.mark.spark
def test_cluster_that_does_not_answer(tmp_path, frames):
    ws = SegmentationService.open(tmp_path / "ws.duckdb")
    (tmp_path / "lake").mkdir()
    try:
        with pytest.raises(SegmentationError, match=r"spark://127\.0\.0\.1:9 does not answer"):
            ws.set_engine("spark", master="spark://127.0.0.1:9", data=tmp_path / "lake")
        assert ws.engine == "duckdb"
    finally:
        ws.close()


def test_data_in_both_places_is_refused(tmp_path, svc):
    lake = tmp_path / "lake"
    (lake / "profiles").mkdir(parents=True)
    svc.db.connection().execute(
        "COPY (SELECT 'x' AS profile_id) TO ? (FORMAT parquet)",
        [str(lake / "profiles" / "p.parquet")],
    )
    with pytest.raises(ConflictError, match="holds its own events and profiles"):
        svc.set_engine("spark", master="local[2]", data=lake)
    assert svc.engine == "duckdb" and svc.info()["profiles"] == 400


@pytest.mark.spark
def test_definitions_must_fit_the_spark_data(tmp_path, spark_session):
    lake = tmp_path / "lake"
    (lake / "profiles").mkdir(parents=True)
    pd.DataFrame({"profile_id": ["a", "b"], "country": ["US", "DE"]}).to_parquet(
        lake / "profiles" / "p.parquet"
    )
    ws = SegmentationService.open(tmp_path / "ws.duckdb")
    try:
        ws.definitions.create(name="Gold", pql='loyaltyTier = "gold"')  # no data yet: kept
        with pytest.raises(InvalidInputError, match=r"'Gold' does not fit.*loyaltyTier"):
            ws.set_engine("spark", master="local[2]", data=lake)
        assert ws.engine == "duckdb"
        ws.definitions.delete(ws.definitions.get("Gold").id)
        ws.set_engine("spark", master="local[2]", data=lake)
        assert ws.preview('country = "US"').rows["profile_id"].tolist() == ["a"]
        assert ws.catalog()  # the catalog reads the same Parquet
    finally:
        ws.close()


def test_cli_engine_without_java(tmp_path):
    """The CLI says what to fix, in one line, when Spark cannot run here."""
    (tmp_path / "lake").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no java
    ws = str(tmp_path / "ws.duckdb")
    cmd = [sys.executable, "-m", "segmentation.cli", "--workspace", ws, "engine"]
    done = subprocess.run(
        [*cmd, "spark", "--master", "local[2]", "--data", str(tmp_path / "lake")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "needs Java" in done.stderr and "Traceback" not in done.stderr
    shown = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.stdout.strip() == "Segments are evaluated by duckdb."
