"""The `segmentation` command: set up a workspace, load data, run jobs headless."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from segmentation.errors import InvalidInputError, SegmentationError
from segmentation.samples import DEFAULT_END
from segmentation.store import ENV_PATH, default_path
from segmentation.tokens import DASHBOARD_AUTH_ENV, Token

EPILOG = f"""The workspace is one DuckDB file: --workspace PATH, or ${ENV_PATH},
or ./workspace/segments.duckdb. Only one program may write it at a time, so stop
the dashboard before loading data from the command line.

Examples:
  segmentation init --demo                  create the workspace with the demo data
  segmentation init --large-demo            300,000 generated profiles: sampled estimates
  segmentation ingest profiles people.csv --id-column customer_id
  segmentation ingest events events.parquet --mode append
  segmentation generate-demo --profiles 1000000 --out bench/data/1m
  segmentation run '*'                      evaluate every saved segment now
  segmentation engine spark --master 'local[2]' --data lake/   evaluate on Spark
  segmentation scheduler                    run the schedules without the dashboard
  segmentation serve --port 8501            dashboard + REST API + schedules, one process
  segmentation token create --name ci       an API token (printed once)
  segmentation sandbox create dev           a second workspace beside this one
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
    if args.large_demo:
        from segmentation.demo import load_large_demo

        print(load_large_demo(svc))
    info = svc.info()
    print(
        f"Workspace {info['path']}: {info['profiles']:,} profiles, {info['events']:,} events, "
        f"{info['definitions']} definitions, timezone {info['timezone']}."
    )


def cmd_ingest(args: argparse.Namespace) -> None:
    svc = _service(args)
    options = {
        "id_column": args.id_column,
        "event_type_column": args.event_type_column,
        "timestamp_column": args.timestamp_column,
        "delimiter": args.delimiter,
        "column_types": _column_types(args.column_type),
        "date_format": args.date_format,
    }
    if args.preview:
        preview = svc.ingest_preview(args.table, args.file, mode=args.mode, **options)
        print(
            f"Preview of {preview.source} ({args.mode} into {preview.table}): "
            f"{preview.rows_to_load:,} of {preview.rows_read:,} rows would load, "
            f"{preview.rows_rejected:,} rejected. Nothing was stored."
        )
        for column in preview.columns:
            fmt = f" ({column.date_format})" if column.date_format else ""
            role = f" [{column.role}]" if column.role else ""
            print(f"  {column.source}: {column.kind}{fmt}{role}")
        _print_problems(preview.problems, preview.warnings, preview.rejected_rows_file)
        return
    report = svc.ingest(args.table, args.file, mode=args.mode, **options)
    print(report.summary())
    _print_problems(report.problems, report.warnings, report.rejected_rows_file)


def _column_types(pairs: list[str] | None) -> dict[str, str] | None:
    """``--column-type score=number --column-type birthday=date:DD/MM/YYYY``."""
    chosen = {}
    for pair in pairs or []:
        column, sep, kind = pair.partition("=")
        if not sep or not column.strip():
            raise InvalidInputError(
                f"--column-type {pair!r}: write COLUMN=TYPE, e.g. score=number or "
                "birthday=date:DD/MM/YYYY."
            )
        chosen[column.strip()] = kind.strip()
    return chosen or None


def _print_problems(problems, warnings: list[str], rejected_file: str | None) -> None:
    for problem in problems:
        print(f"  row {problem.row}, column {problem.column}: {problem.reason} ({problem.value!r})")
    for warning in warnings:
        print(f"  warning: {warning}")
    if rejected_file:
        print(f"  every rejected row, with its reason: {rejected_file}")


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


def cmd_export(args: argparse.Namespace) -> None:
    svc = _service(args)
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else []
    job = svc.exports.create(
        {
            "segments": [svc.definitions.get(s).id for s in args.segments],
            "fields": fields,
            "format": args.format,
            "combined": not args.separate,
        }
    )
    print(f"Export {job.id}: {job.status}, {job.metrics.profiles_exported:,} rows")
    for path in job.files:
        print(f"  {path}")
    if job.status != "SUCCEEDED":
        raise SegmentationError(job.error or f"The export ended {job.status}.")


def cmd_scheduler(args: argparse.Namespace) -> None:
    svc = _service(args)
    # a service manager's stop ends the loop after the current tick, like Ctrl-C
    signal.signal(signal.SIGTERM, lambda signum, frame: svc.scheduler.stop(timeout=0))
    print(f"Scheduler running on {svc.db.path}; Ctrl-C to stop.")
    svc.run_scheduler_forever(poll_seconds=args.poll)


def reachable_from_outside(host: str) -> bool:
    """Whether binding ``host`` serves other machines (then the dashboard asks for a token)."""
    return not (host == "localhost" or host == "::1" or host.startswith("127."))


def _fast_uvicorn() -> dict[str, str]:
    """uvicorn's C HTTP parser and libuv event loop, named rather than left to "auto" so that
    a missing one fails here instead of silently costing about 1 ms per API request."""
    import httptools  # noqa: F401

    options = {"http": "httptools"}
    try:
        import uvloop  # noqa: F401
    except ImportError:  # not built for Windows: asyncio's loop
        return options
    return {**options, "loop": "uvloop"}


def _server_class() -> type:
    import uvicorn

    from segmentation.api.waiting import stop_waiting

    class Server(uvicorn.Server):
        """uvicorn's server, whose GETs waiting with ``Prefer: wait`` answer at once when
        it is told to stop (uvicorn waits for every answer in flight before it stops)."""

        def handle_exit(self, sig: int, frame: object) -> None:
            stop_waiting()
            super().handle_exit(sig, frame)

    return Server


def cmd_serve(args: argparse.Namespace) -> None:
    """The dashboard, the REST API and the schedules in this one process."""
    import os

    import uvicorn

    root = Path(__file__).resolve().parent.parent
    if not (root / "ui" / "server.py").exists():
        raise SegmentationError(f"serve runs from a source checkout; {root / 'ui'} is missing.")
    os.environ[ENV_PATH] = str(Path(args.workspace).resolve())
    if reachable_from_outside(args.host):
        os.environ[DASHBOARD_AUTH_ENV] = "1"
    sys.path.insert(0, str(root))
    from ui import server

    server.configure_streamlit(args.log_level)
    server.sandboxes.open_services()  # a held workspace fails here, with the CLI's message
    print(
        f"Serving {args.workspace}: dashboard http://{args.host}:{args.port}/ , "
        f"API http://{args.host}:{args.port}/data/core/ups (docs at /data/core/ups/docs)",
        flush=True,
    )
    config = uvicorn.Config(
        server.app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,  # Streamlit's handler and format: each line once
        timeout_graceful_shutdown=5,  # told to stop, what is in flight gets this long
        **_fast_uvicorn(),
    )
    _server_class()(config).run()


def _sandboxes(args: argparse.Namespace):
    from segmentation.sandboxes import Sandboxes

    return Sandboxes(args.workspace)


def _on_workspace(args: argparse.Namespace, command: str, **arguments: object) -> dict:
    """A token command on the workspace file, or through `serve` while it holds the file."""
    from segmentation import control

    return control.run(args.workspace, command, **arguments)


def cmd_token_create(args: argparse.Namespace) -> None:
    made = _on_workspace(
        args, "token create", sandbox=args.sandbox, name=args.name, read_only=args.read_only
    )
    access = "read-only" if made["read_only"] else "read-write"
    print(f"Created {access} token {made['name']!r} for sandbox {args.sandbox!r}.")
    print("It is shown once and stored only as a hash; keep it now:")
    print(made["secret"])


def cmd_token_list(args: argparse.Namespace) -> None:
    tokens = _on_workspace(args, "token list", sandbox=args.sandbox)["tokens"]
    if not tokens:
        print(f"No tokens in sandbox {args.sandbox!r}.")
    for token in map(Token.model_validate, tokens):
        access = "read-only" if token.read_only else "read-write"
        print(f"{token.name:32} {access:10} created {token.created_at:%Y-%m-%d %H:%M} UTC")


def cmd_token_revoke(args: argparse.Namespace) -> None:
    _on_workspace(args, "token revoke", sandbox=args.sandbox, name=args.name)
    print(f"Revoked token {args.name!r} of sandbox {args.sandbox!r}.")


def cmd_sandbox_create(args: argparse.Namespace) -> None:
    path = _sandboxes(args).create(args.name)
    print(f"Created sandbox {args.name!r} in {path}.")


def cmd_sandbox_list(args: argparse.Namespace) -> None:
    sandboxes = _sandboxes(args)
    for name in sandboxes.names():
        print(f"{name:24} {sandboxes.path(name)}")


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
    init.add_argument(
        "--large-demo",
        action="store_true",
        help="generate (once) and load 300,000 demo profiles: estimates are then sampled "
        "(about a minute)",
    )
    init.set_defaults(func=cmd_init)

    ing = add("ingest", help="load profiles or events from CSV or Parquet")
    ing.add_argument("table", choices=["profiles", "events"])
    ing.add_argument("file", help="a .csv, .csv.gz or .parquet file")
    ing.add_argument("--mode", choices=["replace", "append"], default="replace")
    ing.add_argument("--id-column", help="the profile id column (detected when omitted)")
    ing.add_argument("--event-type-column", help="events: the event type column")
    ing.add_argument("--timestamp-column", help="events: the timestamp column")
    ing.add_argument("--delimiter", help="CSV field separator (detected when omitted)")
    ing.add_argument(
        "--column-type",
        action="append",
        metavar="COLUMN=TYPE",
        help="set a column's type: text, number, date, timestamp, boolean "
        "(date:DD/MM/YYYY with a format); repeatable",
    )
    ing.add_argument("--date-format", help="how the file writes dates, e.g. DD/MM/YYYY")
    ing.add_argument(
        "--preview",
        action="store_true",
        help="show the detected types and every problem, storing nothing",
    )
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

    exp = add("export", help="write the members of segments to files in the exports folder")
    exp.add_argument("segments", nargs="+", help="definition ids or names")
    exp.add_argument("--format", choices=["csv", "parquet", "json"], default="csv")
    exp.add_argument("--fields", help="comma-separated profile fields (default: every column)")
    exp.add_argument("--separate", action="store_true", help="one file per segment")
    exp.set_defaults(func=cmd_export)

    srv = add("serve", help="the dashboard, the REST API and the schedules in one process")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    srv.add_argument("--port", type=int, default=8501)
    srv.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="the server's log level (info logs each request)",
    )
    srv.set_defaults(func=cmd_serve)

    tok = add("token", help="API tokens: create, list, revoke")
    tok_sub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    sandbox_arg = argparse.ArgumentParser(add_help=False)
    sandbox_arg.add_argument("--sandbox", default="prod", help="the sandbox (default prod)")
    tok_add = functools.partial(tok_sub.add_parser, parents=[common, sandbox_arg])
    create = tok_add("create", help="make a token; it is printed once, as the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--read-only", action="store_true", help="may read, not change or run")
    create.set_defaults(func=cmd_token_create)
    tok_add("list", help="the tokens of a sandbox (names only)").set_defaults(func=cmd_token_list)
    revoke = tok_add("revoke", help="delete a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_token_revoke)

    box = add("sandbox", help="sandboxes: separate workspaces beside this one")
    box_sub = box.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    box_add = functools.partial(box_sub.add_parser, parents=[common])
    make = box_add("create", help="a new empty sandbox in its own DuckDB file")
    make.add_argument("name", help="lowercase letters, digits and '-'")
    make.set_defaults(func=cmd_sandbox_create)
    box_add("list", help="every sandbox and its file").set_defaults(func=cmd_sandbox_list)
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
    except BrokenPipeError:  # the reader stopped early (`| head`): as other commands, quietly
        # and so that the flush at exit does not raise again (Python's signal docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug, not the user's fault: one line, not a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
