"""Segment Studio performance benchmark (see bench/README.md).

    .venv/bin/python bench/run.py --profiles 1000000 --out bench/results-1m.json

Generates (or reuses, under bench/data/) the demo data with the project's
generator, loads it into a bench workspace through the service, then measures
in this one process: compile and exact evaluation time of each segment in
``bench/segments.py`` against a hand-written DuckDB query and (up to
``--pandas-max`` profiles) an idiomatic pandas version; a job of 50 definitions
against the 50 run alone; estimate time and error; preview pages 1 and 100;
breakdown and overlap calls; CSV ingest rows per second; peak memory. Every
timing is ``time.perf_counter`` around the call, best of ``--repeat`` runs
after one warm-up. Nothing here asserts on time: targets are reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
from segments import SEGMENTS, Clock, job_definitions  # noqa: E402

from segmentation import SegmentationService  # noqa: E402
from segmentation.samples import generate_demo  # noqa: E402

GIB = 1024**3


# --- timing ------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], repeat: int, warmup: bool = True) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (after one untimed warm-up call) and the last result."""
    result = fn() if warmup else None
    times = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- data and workspace ------------------------------------------------------------------


def ensure_data(data_root: Path, profiles: int, per_profile: float, seed: int) -> dict[str, Any]:
    """The Parquet files for this size, generated once and reused (bench/data is git-ignored)."""
    folder = data_root / f"p{profiles}_e{per_profile:g}_s{seed}"
    meta_path = folder / "data.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if all((folder / name).exists() for name in ("profiles.parquet", "events.parquet")):
            meta["reused"] = True
            meta["folder"] = str(folder)
            return meta
    log(f"generating {profiles:,} profiles x {per_profile:g} events into {folder}")
    files = generate_demo(
        folder, profiles=profiles, events_per_profile=per_profile, seed=seed, fmt="parquet"
    )
    meta = {
        "profiles": files.profiles,
        "events": files.events,
        "seed": seed,
        "end": files.end.isoformat(),
        "generate_seconds": files.elapsed_s,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    meta.update(reused=False, folder=str(folder))
    return meta


def open_workspace(
    folder: Path, data: dict[str, Any], memory_limit: str, threads: int
) -> tuple[SegmentationService, dict[str, Any]]:
    """The bench workspace next to the data; loaded through the service once, then reused."""
    path = folder / "bench.duckdb"
    svc = SegmentationService.open(path, memory_limit=memory_limit, threads=threads)
    info = svc.info()
    load: dict[str, Any] = {"reused": True}
    if info["profiles"] != data["profiles"] or info["events"] != data["events"]:
        log("loading the bench workspace from Parquet")
        load = {"reused": False}
        for table in ("profiles", "events"):
            started = time.perf_counter()
            report = svc.ingest(table, folder / f"{table}.parquet", mode="replace")
            load[f"{table}_seconds"] = round(time.perf_counter() - started, 3)
            load[f"{table}_rows"] = report.rows_loaded
    return svc, load


def save_definitions(svc: SegmentationService, specs: list[tuple[str, str]]) -> list[str]:
    """Create (or bring up to date) definitions by name; returns their ids in order."""
    ids = []
    for name, pql in specs:
        found = svc.definitions.find(name)
        if found is None:
            found = svc.definitions.create(name=name, pql=pql, tags=["bench"])
        elif found.pql != pql:
            found = svc.definitions.update(found.id, pql=pql)
        ids.append(found.id)
    return ids


# --- sections ----------------------------------------------------------------------------


def count_sql(svc: SegmentationService, sql: str, params: list | None = None) -> int:
    return svc.db.connection().execute(f"SELECT count(*) FROM ({sql})", params or []).fetchone()[0]


def bench_segments(svc, clock: Clock, repeat: int) -> list[dict[str, Any]]:
    rows = []
    for seg in SEGMENTS:
        compile_s, (sql, params) = best_of(lambda s=seg: svc.compile(s.pql, clock.as_of), repeat)
        ours_s, count = best_of(lambda q=sql, v=params: count_sql(svc, q, v), repeat)
        hand = seg.hand_sql(clock)
        hand_s, hand_count = best_of(lambda h=hand: count_sql(svc, h), repeat)
        rows.append(
            {
                "name": seg.name,
                "kind": seg.kind,
                "count": count,
                "hand_count": hand_count,
                "compile_seconds": round(compile_s, 5),
                "seconds": round(ours_s, 4),
                "hand_sql_seconds": round(hand_s, 4),
                "ratio": round(ours_s / hand_s, 3),
                "pandas_seconds": None,
                "pandas_ratio": None,
                "pandas_count": None,
            }
        )
        log(f"{seg.name}: ours {ours_s:.3f}s hand {hand_s:.3f}s ({count:,} / {hand_count:,})")
    return rows


def bench_pandas(folder: Path, clock: Clock, rows: list[dict], repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    P = pd.read_parquet(folder / "profiles.parquet")
    E = pd.read_parquet(
        folder / "events.parquet",
        columns=[
            "profile_id",
            "eventType",
            "timestamp",
            "revenue",
            "category",
            "channel",
            "campaign",
        ],
    )
    for column in ("signupDate", "birthDate"):  # DATE -> datetime64 so masks compare directly
        P[column] = pd.to_datetime(P[column])
    load_s = time.perf_counter() - started
    log(f"pandas: loaded {len(P):,} profiles and {len(E):,} events in {load_s:.1f}s")
    by_name = {r["name"]: r for r in rows}
    for seg in SEGMENTS:
        secs, ids = best_of(lambda s=seg: s.pandas(P, E, clock), repeat)
        row = by_name[seg.name]
        row["pandas_seconds"] = round(secs, 4)
        row["pandas_ratio"] = round(secs / row["seconds"], 2) if row["seconds"] else None
        row["pandas_count"] = int(pd.Index(ids).nunique())
        log(f"{seg.name}: pandas {secs:.3f}s ({row['pandas_count']:,})")
    return {
        "load_seconds": round(load_s, 2),
        "frame_bytes": int(P.memory_usage(deep=True).sum() + E.memory_usage(deep=True).sum()),
    }


def bench_job(svc, clock: Clock, repeat: int) -> dict[str, Any]:
    specs = job_definitions()
    ids = save_definitions(svc, specs)
    log(f"job: {len(ids)} definitions")
    job_s, job = best_of(lambda: svc.jobs.run(ids, as_of=clock.as_of), repeat)
    singles = []
    for definition_id, (name, _) in zip(ids, specs, strict=True):
        secs, single = best_of(
            lambda d=definition_id: svc.jobs.run([d], as_of=clock.as_of),
            max(1, repeat - 1),
            warmup=False,
        )
        singles.append({"name": name, "seconds": round(secs, 4), "status": single.status})
    total = sum(s["seconds"] for s in singles)
    slowest = max(singles, key=lambda s: s["seconds"])
    return {
        "definitions": len(ids),
        "status": job.status,
        "seconds": round(job_s, 3),
        "segmentation_ms": job.metrics.profile_segmentation_time.total_time_in_ms,
        "qualified_total": sum(job.metrics.segmented_profile_counter.values()),
        "sum_alone_seconds": round(total, 3),
        "ratio_to_sum_alone": round(job_s / total, 3),
        "slowest_alone": slowest,
        "ratio_to_slowest_alone": round(job_s / slowest["seconds"], 2),
        "alone": singles,
    }


def bench_estimate(svc, clock: Clock, rows: list[dict], repeat: int) -> dict[str, Any]:
    items = []
    for seg, row in zip(SEGMENTS, rows, strict=True):
        secs, est = best_of(lambda s=seg: svc.estimate(s.pql, as_of=clock.as_of), repeat)
        exact = row["count"]
        items.append(
            {
                "name": seg.name,
                "seconds": round(secs, 4),
                "exact": exact,
                "estimated_size": est.estimated_size,
                "low": est.low,
                "high": est.high,
                "sample_size": est.sample_size,
                "relative_error": round((est.estimated_size - exact) / exact, 4) if exact else None,
                "interval_contains_exact": est.low <= exact <= est.high,
                "sampled": not est.exact,
            }
        )
    times = [i["seconds"] for i in items]
    return {
        "median_seconds": round(statistics.median(times), 4),
        "max_seconds": round(max(times), 4),
        "all_intervals_contain_exact": all(i["interval_contains_exact"] for i in items),
        "max_abs_relative_error": max(abs(i["relative_error"] or 0) for i in items),
        "segments": items,
    }


def bench_preview(svc, clock: Clock, repeat: int, page: int = 50) -> dict[str, Any]:
    items = []
    for seg in SEGMENTS:
        first_s, first = best_of(
            lambda s=seg: svc.preview(s.pql, as_of=clock.as_of, limit=page, offset=0), repeat
        )
        hundredth_s, hundredth = best_of(
            lambda s=seg: svc.preview(s.pql, as_of=clock.as_of, limit=page, offset=99 * page),
            repeat,
        )
        items.append(
            {
                "name": seg.name,
                "total": first.total,
                "page1_seconds": round(first_s, 4),
                "page100_seconds": round(hundredth_s, 4),
                "page100_rows": len(hundredth.rows),
                "page100_over_page1": round(hundredth_s / first_s, 2),
            }
        )
    return {
        "page_size": page,
        "median_page1_seconds": round(statistics.median(i["page1_seconds"] for i in items), 4),
        "median_page100_seconds": round(statistics.median(i["page100_seconds"] for i in items), 4),
        "max_page_seconds": max(max(i["page1_seconds"], i["page100_seconds"]) for i in items),
        "segments": items,
    }


def bench_service_calls(svc, clock: Clock, repeat: int) -> dict[str, Any]:
    """What each dashboard page calls, on one mid-size segment (and 3 for the overlap)."""
    seg = next(s for s in SEGMENTS if s.name == "nested_or_events")
    calls = {
        "estimate": lambda: svc.estimate(seg.pql, as_of=clock.as_of),
        "preview_page1": lambda: svc.preview(seg.pql, as_of=clock.as_of, limit=50),
        "preview_page100": lambda: svc.preview(seg.pql, as_of=clock.as_of, limit=50, offset=4950),
        "breakdown_country": lambda: svc.breakdown(seg.pql, "country", as_of=clock.as_of),
        "overlap_3": lambda: svc.overlap(
            {
                s.name: s.pql
                for s in SEGMENTS
                if s.name in ("purchases_30d", "engaged_30d", "revenue_365d")
            },
            as_of=clock.as_of,
        ),
        "estimate_wide_20": lambda: svc.estimate(SEGMENTS[-1].pql, as_of=clock.as_of),
    }
    out = {"segment": seg.name}
    for name, fn in calls.items():
        secs, _ = best_of(fn, repeat)
        out[f"{name}_seconds"] = round(secs, 4)
    return out


def bench_ingest(
    folder: Path, data: dict[str, Any], max_rows: int, memory_limit: str, threads: int, repeat: int
) -> dict[str, Any]:
    """Load an events CSV (the first ``max_rows`` generated events) into a scratch workspace."""
    rows = min(max_rows, data["events"])
    csv_path = folder / f"events_{rows}.csv"
    if not csv_path.exists():
        log(f"ingest: writing {rows:,} events to {csv_path.name}")
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        tmp = csv_path.with_suffix(".partial")
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{folder / 'events.parquet'}') LIMIT {rows}) "
            f"TO '{tmp}' (FORMAT csv, HEADER)"
        )
        con.close()
        tmp.rename(csv_path)
    scratch = folder / "ingest.duckdb"
    for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(scratch.with_suffix(".tmp"), ignore_errors=True)
    svc = SegmentationService.open(scratch, memory_limit=memory_limit, threads=threads)
    try:
        started = time.perf_counter()
        svc.ingest("profiles", folder / "profiles.parquet", mode="replace")
        profiles_s = time.perf_counter() - started
        opts = {"mode": "replace", "max_bytes": 64 * GIB}
        secs, report = best_of(
            lambda: svc.ingest("events", csv_path, **opts), max(1, repeat - 1), warmup=False
        )
    finally:
        svc.close()
    for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    return {
        "source": "csv",
        "rows": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
        "file_bytes": csv_path.stat().st_size,
        "seconds": round(secs, 3),
        "rows_per_second": round(report.rows_loaded / secs),
        "load_only_seconds": round(report.elapsed_seconds, 3),
        "load_only_rows_per_second": round(report.rows_loaded / report.elapsed_seconds)
        if report.elapsed_seconds
        else None,
        "profiles_parquet_seconds": round(profiles_s, 3),
    }


def duckdb_settings(svc) -> dict[str, str]:
    names = ("memory_limit", "threads", "temp_directory", "max_temp_directory_size")
    rows = svc.db.rows(
        "SELECT name, value FROM duckdb_settings() WHERE list_contains(?, name)", [list(names)]
    )
    return dict(rows)


def explain(svc, clock: Clock, name: str) -> None:
    seg = next(s for s in SEGMENTS if s.name == name)
    sql, params = svc.compile(seg.pql, clock.as_of)
    con = svc.db.connection()
    for label, text, values in (("OURS", sql, params), ("HAND", seg.hand_sql(clock), [])):
        print(f"===== {label}: {name}\n{text}\n")
        con.execute(f"SELECT count(*) FROM ({text})", values).fetchall()
        plan = con.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM ({text})", values).fetchall()
        print(plan[0][1])


# --- reporting -----------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def segment_table(rows: list[dict]) -> str:
    head = (
        f"| {'segment':<22} | {'profiles':>9} | {'compile ms':>10} | {'ours s':>7} | "
        f"{'hand s':>7} | {'ratio':>5} | {'pandas s':>8} | {'pandas/ours':>11} | match |"
    )
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        match = r["count"] == r["hand_count"] and r["pandas_count"] in (None, r["count"])
        lines.append(
            f"| {r['name']:<22} | {r['count']:>9,} | {r['compile_seconds'] * 1000:>10.2f} | "
            f"{r['seconds']:>7.3f} | {r['hand_sql_seconds']:>7.3f} | {r['ratio']:>5.2f} | "
            f"{_fmt(r['pandas_seconds']):>8} | {_fmt(r['pandas_ratio'], '.1f'):>11} | "
            f"{'yes' if match else 'NO':<5} |"
        )
    return "\n".join(lines)


def summary_lines(res: dict[str, Any]) -> list[str]:
    segs = res["segments"]
    ratios = [r["ratio"] for r in segs]
    out = [f"median ratio ours/hand {statistics.median(ratios):.2f}, max {max(ratios):.2f}"]
    pr = [r["pandas_ratio"] for r in segs if r["pandas_ratio"]]
    if pr:
        out.append(f"pandas/ours: median {statistics.median(pr):.1f}x, min {min(pr):.1f}x")
    if job := res.get("job"):
        out.append(
            f"job of {job['definitions']}: {job['seconds']:.2f}s; alone: sum "
            f"{job['sum_alone_seconds']:.2f}s, slowest {job['slowest_alone']['seconds']:.2f}s "
            f"({job['slowest_alone']['name']}); job/slowest {job['ratio_to_slowest_alone']:.1f}x"
        )
    if est := res.get("estimate"):
        out.append(
            f"estimate: median {est['median_seconds'] * 1000:.0f} ms, max "
            f"{est['max_seconds'] * 1000:.0f} ms, intervals contain exact: "
            f"{est['all_intervals_contain_exact']}, max |error| {est['max_abs_relative_error']:.1%}"
        )
    if pv := res.get("preview"):
        out.append(
            f"preview: median page 1 {pv['median_page1_seconds'] * 1000:.0f} ms, page 100 "
            f"{pv['median_page100_seconds'] * 1000:.0f} ms, slowest page "
            f"{pv['max_page_seconds'] * 1000:.0f} ms"
        )
    if sc := res.get("service_calls"):
        parts = [f"{k[:-8]} {v * 1000:.0f} ms" for k, v in sc.items() if k.endswith("_seconds")]
        out.append(f"service calls ({sc['segment']}): " + ", ".join(parts))
    if ing := res.get("ingest"):
        out.append(
            f"CSV ingest: {ing['rows']:,} rows in {ing['seconds']:.2f}s = "
            f"{ing['rows_per_second']:,} rows/s (load only {ing['load_only_rows_per_second']:,})"
        )
    mem = res["memory"]
    out.append(
        f"peak RSS: {mem['peak_rss_duckdb_phase_bytes'] / GIB:.2f} GiB before pandas, "
        f"{mem['peak_rss_bytes'] / GIB:.2f} GiB overall (DuckDB memory_limit "
        f"{mem['duckdb'].get('memory_limit')}, threads {mem['duckdb'].get('threads')})"
    )
    return out


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, required=True)
    ap.add_argument("--events-per-profile", type=float, default=20)
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after a warm-up (best of)")
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pandas-max", type=int, default=1_000_000, help="skip pandas above this")
    ap.add_argument("--ingest-rows", type=int, default=5_000_000, help="events in the CSV ingest")
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of sections: job,estimate,preview,calls,ingest,pandas",
    )
    ap.add_argument("--explain", metavar="SEGMENT", help="print EXPLAIN ANALYZE of ours and hand")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    data = ensure_data(args.data_dir, args.profiles, args.events_per_profile, args.seed)
    folder = Path(data["folder"])
    clock = Clock(dt.datetime.fromisoformat(data["end"]))
    svc, load = open_workspace(folder, data, args.memory_limit, args.threads)
    save_definitions(svc, [(s.name, s.pql) for s in SEGMENTS if s.saved])
    if args.explain:
        explain(svc, clock, args.explain)
        return 0
    res: dict[str, Any] = {
        "meta": {
            "profiles": data["profiles"],
            "events": data["events"],
            "as_of": clock.as_of.isoformat(),
            "repeat": args.repeat,
            "data_reused": data["reused"],
            "generate_seconds": data.get("generate_seconds"),
            "workspace_load": load,
            "duckdb": duckdb.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "started": dt.datetime.now().isoformat(timespec="seconds"),
        }
    }
    log("segments")
    res["segments"] = bench_segments(svc, clock, args.repeat)
    if "job" not in skip:
        log("job")
        res["job"] = bench_job(svc, clock, args.repeat)
    if "estimate" not in skip:
        log("estimate")
        res["estimate"] = bench_estimate(svc, clock, res["segments"], args.repeat)
    if "preview" not in skip:
        log("preview")
        res["preview"] = bench_preview(svc, clock, args.repeat)
    if "calls" not in skip:
        log("service calls")
        res["service_calls"] = bench_service_calls(svc, clock, args.repeat)
    res["memory"] = {"duckdb": duckdb_settings(svc)}
    svc.close()
    if "ingest" not in skip:
        log("ingest")
        res["ingest"] = bench_ingest(
            folder, data, args.ingest_rows, args.memory_limit, args.threads, args.repeat
        )
    res["memory"]["peak_rss_duckdb_phase_bytes"] = peak_rss_bytes()
    if "pandas" not in skip and args.profiles <= args.pandas_max:
        log("pandas")
        res["pandas"] = bench_pandas(folder, clock, res["segments"], args.repeat)
    res["memory"]["peak_rss_bytes"] = peak_rss_bytes()
    res["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str))
    title = f"{data['profiles']:,} profiles / {data['events']:,} events (as of {clock.as_of})"
    print(f"\n## {title}\n\n{segment_table(res['segments'])}\n")
    for line in summary_lines(res):
        print(f"- {line}")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
