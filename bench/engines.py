"""DuckDB and Spark on the same data in one run: per-segment times, fixed costs, a 50-job.

    .venv/bin/python bench/engines.py --profiles 1000000 --out bench/results-engines-1m.json

Uses run.py's data (``bench/data/p<N>_e<M>_s<seed>/``, generated once) and its DuckDB
workspace; the Spark workspace (``bench_spark.duckdb`` next to it) reads the same Parquet
files through links under ``lake/``. Both evaluate every bench segment (counts must
match), a trivial query (the fixed cost per query), a one-definition job (the fixed cost
per job) and the 50-definition job; times are the best of ``--repeat`` after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench
from segments import SEGMENTS, Clock, job_definitions

from segmentation import SegmentationService


def spark_workspace(folder: Path, master: str) -> tuple[SegmentationService, float]:
    """A workspace evaluating on Spark over the bench Parquet (linked, not copied)."""
    lake = folder / "lake"
    for table in ("profiles", "events"):
        link = lake / table / f"{table}.parquet"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(folder / f"{table}.parquet", link)
    svc = SegmentationService.open(folder / "bench_spark.duckdb")
    started = time.perf_counter()
    svc.set_engine("spark", master=master, data=lake)  # starts the session, reads schemas
    return svc, time.perf_counter() - started


def count(svc: SegmentationService, pql: str, clock: Clock) -> int:
    sql, params = svc.compile(pql, clock.as_of)
    return svc._engine.count(sql, params)


def bench_segments(duck, spark, clock: Clock, repeat: int) -> list[dict[str, Any]]:
    rows = []
    for seg in SEGMENTS:
        d_s, d_n = bench.best_of(lambda s=seg: count(duck, s.pql, clock), repeat)
        s_s, s_n = bench.best_of(lambda s=seg: count(spark, s.pql, clock), repeat)
        bench.log(f"{seg.name}: duckdb {d_s:.3f}s spark {s_s:.3f}s ({d_n:,} / {s_n:,})")
        rows.append(
            {
                "segment": seg.name,
                "duckdb_seconds": round(d_s, 4),
                "spark_seconds": round(s_s, 4),
                "ratio": round(s_s / d_s, 1) if d_s else None,
                "count": d_n,
                "match": d_n == s_n,
            }
        )
    return rows


def bench_jobs(duck, spark, clock: Clock, repeat: int) -> dict[str, Any]:
    specs = job_definitions()
    out: dict[str, Any] = {"definitions": len(specs)}
    for label, svc in (("duckdb", duck), ("spark", spark)):
        ids = bench.save_definitions(svc, specs)
        trivial = bench.save_definitions(svc, [("engines_trivial", 'profile_id = "none"')])
        one_s, _ = bench.best_of(lambda s=svc, t=trivial: s.jobs.run(t, as_of=clock.as_of), repeat)
        all_s, job = bench.best_of(
            lambda s=svc, i=ids: s.jobs.run(i, as_of=clock.as_of), max(1, repeat - 1)
        )
        out[label] = {
            "job_of_one_trivial_seconds": round(one_s, 3),
            "job_of_50_seconds": round(all_s, 3),
            "status": job.status,
            "qualified_total": sum(job.metrics.segmented_profile_counter.values()),
        }
        bench.log(f"{label}: job of 1 trivial {one_s:.2f}s, job of {len(ids)} {all_s:.2f}s")
    out["match"] = out["duckdb"]["qualified_total"] == out["spark"]["qualified_total"]
    out["ratio"] = round(out["spark"]["job_of_50_seconds"] / out["duckdb"]["job_of_50_seconds"], 1)
    return out


def fixed_cost(svc: SegmentationService, repeat: int) -> float:
    seconds, _ = bench.best_of(lambda: svc._engine.rows("SELECT 1 AS x", []), max(3, repeat))
    return round(seconds, 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--events-per-profile", type=float, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    data = bench.ensure_data(args.data_dir, args.profiles, args.events_per_profile, args.seed)
    folder = Path(data["folder"])
    clock = Clock(as_of=dt.datetime.fromisoformat(data["end"]))
    duck, _ = bench.open_workspace(folder, data, args.memory_limit, args.threads)
    spark, start_s = spark_workspace(folder, args.master)
    bench.log(f"spark workspace ready in {start_s:.1f}s (session start + schema)")
    for svc in (duck, spark):  # segment_of_segments reads saved definitions
        bench.save_definitions(svc, [(s.name, s.pql) for s in SEGMENTS if s.saved])
    result = {
        "profiles": data["profiles"],
        "events": data["events"],
        "master": args.master,
        "duckdb_threads": args.threads,
        "spark_session_start_seconds": round(start_s, 2),
        "fixed_cost_per_query_seconds": {
            "duckdb": fixed_cost(duck, args.repeat),
            "spark": fixed_cost(spark, args.repeat),
        },
        "segments": bench_segments(duck, spark, clock, args.repeat),
        "job": bench_jobs(duck, spark, clock, args.repeat),
    }
    ratios = sorted(r["ratio"] for r in result["segments"] if r["ratio"])
    result["median_ratio_spark_over_duckdb"] = ratios[len(ratios) // 2]
    # per-row cost: seconds per million event rows on the event-scanning segments
    event_rows = data["events"] / 1e6
    for engine in ("duckdb", "spark"):
        scans = [r[f"{engine}_seconds"] for r in result["segments"] if r["segment"] != "attr_only"]
        result[f"{engine}_median_seconds_per_million_events"] = round(
            sorted(scans)[len(scans) // 2] / event_rows, 4
        )
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "segments"}, indent=2))
    duck.close()
    spark.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
