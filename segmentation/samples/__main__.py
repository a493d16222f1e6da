"""``python -m segmentation.samples --out sample_data``: write the demo files."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from segmentation.errors import SegmentationError
from segmentation.samples._generate import DEFAULT_END, generate_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segmentation.samples",
        description="Write the Northwind Outfitters demo profiles and events.",
    )
    parser.add_argument("--out", default="sample_data", help="folder to write into")
    parser.add_argument("--profiles", type=int, default=5000)
    parser.add_argument("--events-per-profile", type=float, default=25)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument(
        "--end",
        type=dt.datetime.fromisoformat,
        default=DEFAULT_END,
        help=f"last moment of the data, ISO format (default {DEFAULT_END.isoformat()})",
    )
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    try:
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
    except SegmentationError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2
    sys.stdout.write(
        f"wrote {files.profiles:,} profiles to {files.profiles_path}\n"
        f"wrote {files.events:,} events to {files.events_path}\n"
        f"in {files.elapsed_s:.1f} s\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
