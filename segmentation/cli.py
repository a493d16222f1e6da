"""The `segmentation` command: set up a workspace, load data, run jobs headless."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from segmentation.errors import SegmentationError
from segmentation.samples import DEFAULT_END
from segmentation.store import ENV_PATH, default_path

EPILOG = f"""The workspace is one DuckDB file: --workspace PATH, or ${ENV_PATH},
or ./workspace/segments.duckdb. Only one program may write it at a time, so stop
the dashboard before loading data from the command line.

Examples:
  segmentation init --demo                  create the workspace with the demo data
  segmentation ingest profiles people.csv --id-column customer_id
  segmentation ingest events events.parquet --mode append
  segmentation generate-demo --profiles 1000000 --out bench/data/1m
  segmentation run '*'                      evaluate every saved segment now
  segmentation engine spark --master 'local[2]' --data lake/   evaluate on Spark
  segmentation scheduler                    run the schedules without the dashboard
"""


def _service(args: argparse.Namespace):
    from segmentation.service import SegmentationService

    return SegmentationService.open(args.workspace)


def cmd_init(args: argparse.Namespace) -> None:
    svc = _service(args)
    if args.timezone:
        svc.set_timezone(args.timezone)
    if args.demo:
        from segmentation.demo import load_demo

        message = load_demo(svc, force=args.force)
        print(message)
    info = svc.info()
    print(
        f"Workspace {info['path']}: {info['profiles']:,} profiles, {info['events']:,} events, "
        f"{info['definitions']} definitions, timezone {info['timezone']}."
    )


def cmd_ingest(args: argparse.Namespace) -> None:
    svc = _service(args)
    report = svc.ingest(
        args.table,
        args.file,
        mode=args.mode,
        id_column=args.id_column,
        event_type_column=args.event_type_column,
        timestamp_column=args.timestamp_column,
    )
    print(report.summary())
    for problem in report.problems[:20]:
        print(f"  row {problem.row}, column {problem.column}: {problem.reason} ({problem.value!r})")


def cmd_generate(args: argparse.Namespace) -> None:
    from segmentation.samples import generate_demo

    files = generate_demo(
        args.out,
        profiles=args.profiles,
        events_per_profile=args.events_per_profile,
        seed=args.seed,
        fmt=args.format,
        end=args.end,
        memory_limit=args.memory_limit,
        threads=args.threads,
    )
    print(
        f"wrote {files.profiles:,} profiles to {files.profiles_path}\n"
        f"wrote {files.events:,} events to {files.events_path}\n"
        f"in {files.elapsed_s:.1f} s"
    )


def cmd_info(args: argparse.Namespace) -> None:
    svc = _service(args)
    info = svc.info()
    print(json.dumps(info, indent=2, default=str))
    if args.catalog:
        for field in svc.catalog():
            distinct = "-" if field.distinct_count is None else f"{field.distinct_count:,}"
            nulls = "-" if field.null_share is None else f"{field.null_share:6.1%}"
            print(
                f"  {field.source:8} {field.name:32} {field.type:12} "
                f"nulls {nulls:>6}  distinct {distinct}"
            )


def cmd_run(args: argparse.Namespace) -> None:
    svc = _service(args)
    segments = "*" if args.segments == ["*"] else args.segments
    job = svc.jobs.run(segments)
    print(f"Job {job.id}: {job.status}")
    names = {s.segment_id: s.name for s in job.segments}
    for seg, counts in job.metrics.segmented_profile_by_status_counter.items():
        print(
            f"  {names.get(seg, seg)}: {job.metrics.segmented_profile_counter[seg]:,} "
            f"qualified ({counts['realized']:,} entered, {counts['exited']:,} exited)"
        )
    if job.status != "SUCCEEDED":
        raise SegmentationError(job.error or f"The job ended {job.status}.")


def cmd_engine(args: argparse.Namespace) -> None:
    svc = _service(args)
    if args.name:
        svc.set_engine(args.name, master=args.master, data=args.data)
    config = svc.engine_config
    where = f" on {config.master}, data in {config.data}" if config.name == "spark" else ""
    print(f"Segments are evaluated by {config.name}{where}.")


def cmd_scheduler(args: argparse.Namespace) -> None:
    svc = _service(args)
    # a service manager's stop ends the loop after the current tick, like Ctrl-C
    signal.signal(signal.SIGTERM, lambda signum, frame: svc.scheduler.stop(timeout=0))
    print(f"Scheduler running on {svc.db.path}; Ctrl-C to stop.")
    svc.run_scheduler_forever(poll_seconds=args.poll)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmentation",
        description="Segment Studio: build audience segments over your own customer data.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workspace", default=default_path(), help="the workspace DuckDB file")
    # also accepted after the command: `segmentation init --workspace x.duckdb`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(sub.add_parser, parents=[common])

    init = add("init", help="create the workspace (and load the demo data)")
    init.add_argument(
        "--demo", action="store_true", help="load sample_data/ if the workspace is empty"
    )
    init.add_argument(
        "--force", action="store_true", help="with --demo: reload even if data exists"
    )
    init.add_argument(
        "--timezone", help="workspace timezone for calendar windows, e.g. Europe/Berlin"
    )
    init.set_defaults(func=cmd_init)

    ing = add("ingest", help="load profiles or events from CSV or Parquet")
    ing.add_argument("table", choices=["profiles", "events"])
    ing.add_argument("file", help="a .csv, .csv.gz or .parquet file")
    ing.add_argument("--mode", choices=["replace", "append"], default="replace")
    ing.add_argument("--id-column", help="the profile id column (detected when omitted)")
    ing.add_argument("--event-type-column", help="events: the event type column")
    ing.add_argument("--timestamp-column", help="events: the timestamp column")
    ing.set_defaults(func=cmd_ingest)

    gen = add("generate-demo", help="write a deterministic demo data set of any size")
    gen.add_argument("--profiles", type=int, default=5000)
    gen.add_argument("--events-per-profile", type=float, default=25)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    gen.add_argument("--out", type=Path, required=True, help="folder for the files")
    gen.add_argument(
        "--end",
        type=dt.datetime.fromisoformat,
        default=DEFAULT_END,
        help=f"last moment of the data, ISO format (default {DEFAULT_END.isoformat()})",
    )
    gen.add_argument("--memory-limit", default="4GB", help="DuckDB's memory limit while generating")
    gen.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all)")
    gen.set_defaults(func=cmd_generate)

    info = add("info", help="counts and the field catalog")
    info.add_argument("--catalog", action="store_true", help="also list every field")
    info.set_defaults(func=cmd_info)

    run = add("run", help="evaluate segments now and record who entered and exited")
    run.add_argument("segments", nargs="+", help="definition ids or names, or '*' for all")
    run.set_defaults(func=cmd_run)

    eng = add("engine", help="show or choose who evaluates segments: duckdb or spark")
    eng.add_argument("name", nargs="?", choices=["duckdb", "spark"], help="omit to show")
    eng.add_argument("--master", help="spark: local[N], spark://host:7077 or sc://host:15002")
    eng.add_argument("--data", help="spark: the folder of profiles/ and events/ Parquet")
    eng.set_defaults(func=cmd_engine)

    sched = add("scheduler", help="run due schedules until stopped (no dashboard)")
    sched.add_argument("--poll", type=float, default=30.0, help="seconds between checks")
    sched.set_defaults(func=cmd_scheduler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except SegmentationError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not the user's fault: one line, not a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
