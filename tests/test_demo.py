"""The large demo: generated once beside the workspace, loaded over the small one."""

from __future__ import annotations

from pathlib import Path

from segmentation import SegmentationService
from segmentation.demo import load_demo, load_large_demo


def test_large_demo_is_generated_once_and_replaces_the_data(tmp_path: Path) -> None:
    svc = SegmentationService.open(tmp_path / "ws.duckdb")
    try:
        load_demo(svc, history=False)
        segments = {d.name for d in svc.definitions.all()}
        # a small size keeps the test quick; the page and CLI use LARGE_DEMO_PROFILES
        message = load_large_demo(svc, profiles=2_000)
        assert svc.info()["profiles"] == 2_000
        assert "2,000 profiles" in message
        files = tmp_path / "demo-2k"
        assert (files / "profiles.parquet").exists() and (files / "events.parquet").exists()
        assert {d.name for d in svc.definitions.all()} == segments  # the segments stay
        entry = next(e for e in svc.library() if e.name == "US runners")
        assert entry.size == svc.preview(entry.id).total  # members recorded on the new data
        stamp = (files / "events.parquet").stat().st_mtime_ns
        load_large_demo(svc, profiles=2_000)  # the second time reuses the files
        assert (files / "events.parquet").stat().st_mtime_ns == stamp
    finally:
        svc.close()
