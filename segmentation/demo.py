"""Set up a workspace a presenter is glad to open: demo data, example segments, history.

The shipped events are shifted so that the newest one is "now", so windows
like "purchased in the last 30 days" match people whenever the demo runs.
A few weekly jobs in the past give the size-over-time charts something to show.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from segmentation.errors import InvalidInputError
from segmentation.samples import DEMO_SEGMENTS

if TYPE_CHECKING:
    from segmentation.service import SegmentationService

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
HISTORY_WEEKS = 6
# Above the estimator's exact threshold (250,000 profiles) estimates are sampled, with
# an interval: the large demo shows that. Too big to ship, it is generated on request
# (about 20 s to generate and 45 s to load with its weekly history on a busy 2-core box).
LARGE_DEMO_PROFILES = 300_000
LARGE_DEMO_EVENTS_PER_PROFILE = 10


def sample_files(folder: Path = SAMPLE_DIR) -> tuple[Path, Path]:
    profiles = next(iter(sorted(folder.glob("profiles.*"))), None)
    events = next(iter(sorted(folder.glob("events.*"))), None)
    if profiles is None or events is None:
        raise InvalidInputError(
            f"The demo data is missing from {folder}: expected profiles.* and events.* there."
        )
    return profiles, events


def load_demo(
    svc: SegmentationService,
    *,
    force: bool = False,
    folder: Path = SAMPLE_DIR,
    now: dt.datetime | None = None,
    history: bool = True,
) -> str:
    """Load the demo into ``svc`` unless it already holds data; returns what was done."""
    if svc.info()["profiles"] and not force:
        return "The workspace already holds data; the demo was not loaded (use --force)."
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    profiles, events = sample_files(folder)
    svc.ingest("profiles", profiles, mode="replace")
    svc.ingest("events", events, mode="replace", shift_to_now=now)
    created = _create_segments(svc)
    if history and created:
        for weeks_ago in range(HISTORY_WEEKS, -1, -1):
            svc.jobs.run("*", as_of=now - dt.timedelta(weeks=weeks_ago))
    if not svc.schedules.list():
        svc.schedules.create(
            name="Nightly refresh", cron="0 0 2 * * ?", segments=["*"], timezone=svc.timezone
        )
    info = svc.info()
    return (
        f"Loaded the demo: {info['profiles']:,} profiles, {info['events']:,} events, "
        f"{len(created)} example segments."
    )


def _create_segments(svc: SegmentationService) -> list[str]:
    created = []
    for spec in DEMO_SEGMENTS:
        if svc.definitions.find(spec["name"]) is not None:
            continue
        d = svc.definitions.create(
            name=spec["name"],
            pql=spec["pql"],
            description=spec.get("description", ""),
            tags=spec.get("tags", []),
        )
        created.append(d.id)
    return created


def load_large_demo(
    svc: SegmentationService,
    *,
    profiles: int = LARGE_DEMO_PROFILES,
    folder: Path | None = None,
    now: dt.datetime | None = None,
    history: bool = True,
) -> str:
    """Generate (once, beside the workspace) and load a demo big enough to be sampled.

    Replaces the workspace's profiles and events; saved segments stay, and one job
    run now records their members on the new data (earlier runs stay in the history).
    ``history=False`` skips the weekly runs (most of the load time at 300,000 profiles).
    """
    from segmentation.samples import generate_demo

    base = Path(svc.info()["path"])
    folder = folder or (base.parent if base.name != ":memory:" else Path.cwd()) / (
        f"demo-{profiles // 1000}k"
    )
    if not (folder / "profiles.parquet").exists() or not (folder / "events.parquet").exists():
        generate_demo(
            folder,
            profiles=profiles,
            events_per_profile=LARGE_DEMO_EVENTS_PER_PROFILE,
            fmt="parquet",
        )
    message = load_demo(svc, force=True, folder=folder, now=now, history=history)
    if svc.definitions.all():
        svc.jobs.run("*")
    return message
