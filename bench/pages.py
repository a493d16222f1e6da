"""Time each dashboard page on the demo data, as a user opening it would wait.

Runs every page through Streamlit's AppTest (the whole script: sidebar, service
calls, charts) on a fresh demo workspace, best of 3 after a warm-up, and prints
milliseconds per page. Usage: python bench/pages.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segmentation import SegmentationService  # noqa: E402
from segmentation.demo import load_demo  # noqa: E402
from segmentation.store import ENV_PATH  # noqa: E402

PAGES = ["builder", "preview", "estimates", "jobs", "schedules", "exports", "search", "data"]


def demo_workspace(folder: Path) -> Path:
    path = folder / "segments.duckdb"
    svc = SegmentationService.open(path)
    load_demo(svc)
    svc.close()
    return path


def time_page(page: str, repeat: int = 3) -> float:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()  # warm-up: caches filled as a user's second visit would find them
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        at.run()
        best = min(best, time.perf_counter() - started)
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].message}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the timings as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ[ENV_PATH] = str(demo_workspace(Path(folder)))
        results = {page: round(time_page(page) * 1000, 1) for page in PAGES}
    print(f"{'page':12} {'ms':>8}")
    for page, ms in results.items():
        print(f"{page:12} {ms:8.1f}")
    if args.out:
        args.out.write_text(json.dumps({"pages_ms": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
