"""Shared fixtures: small real workspaces built from generated files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmentation import SegmentationService

AS_OF = dt.datetime(2026, 6, 30, 12, 0, 0)
EVENT_TYPES = ["page_view", "add_to_cart", "purchase", "email_open"]
INTERESTS = ["sports", "music", "travel", "food"]
TAGS = ["promo", "new", "sale"]


def make_frames(n_profiles: int = 400, n_events: int = 6000, seed: int = 7):
    """Profiles and events with NULLs and a spread of times before and after AS_OF."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:05d}" for i in range(n_profiles)]
    profiles = pd.DataFrame(
        {
            "profile_id": ids,
            "email": [f"user{i}@example.com" for i in range(n_profiles)],
            "country": rng.choice(["US", "DE", "FR", "GB", None], n_profiles),
            "age": rng.integers(18, 80, n_profiles).astype(float),
            "loyaltyTier": rng.choice(["none", "silver", "gold"], n_profiles),
        }
    )
    profiles.loc[rng.random(n_profiles) < 0.1, "age"] = np.nan
    # a list column: JSON arrays in the CSV (VARCHAR[] once loaded), with repeats,
    # empty lists and missing ones; its own generator keeps the other columns as they were
    extra = np.random.default_rng(seed + 1)
    profiles["interests"] = [_json_list(extra, INTERESTS, 5) for _ in range(n_profiles)]
    profiles["wishlist"] = [_json_list(extra, INTERESTS, 4) for _ in range(n_profiles)]
    born = [
        dt.date(1990, 1, 1) + dt.timedelta(days=int(d)) for d in extra.integers(0, 20, n_profiles)
    ]
    profiles["birthDate"] = [None if extra.random() < 0.1 else day.isoformat() for day in born]
    start = AS_OF - dt.timedelta(days=120)
    offsets = rng.integers(0, 130 * 24 * 3600, n_events)
    events = pd.DataFrame(
        {
            "profile_id": rng.choice(ids, n_events),
            "eventType": rng.choice(EVENT_TYPES, n_events, p=[0.5, 0.2, 0.1, 0.2]),
            "timestamp": [start + dt.timedelta(seconds=int(s)) for s in offsets],
            "revenue": rng.integers(5, 300, n_events).astype(float),
        }
    )
    events.loc[events["eventType"] != "purchase", "revenue"] = np.nan
    events["tags"] = [_json_list(extra, TAGS, 3) for _ in range(n_events)]
    return profiles, events


def _json_list(rng, items: list[str], longest: int) -> str | None:
    """A JSON array of up to ``longest - 1`` items (repeats allowed; empty ones too), or
    None (a missing list) one time in ten."""
    if rng.random() < 0.1:
        return None
    return json.dumps(list(rng.choice(items, rng.integers(0, longest))))


@pytest.fixture
def frames():
    return make_frames()


@pytest.fixture
def svc(tmp_path: Path, frames) -> SegmentationService:
    profiles, events = frames
    profiles.to_csv(tmp_path / "profiles.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    service = SegmentationService.open(":memory:", exports_dir=tmp_path / "exports")
    service.ingest("profiles", tmp_path / "profiles.csv")
    service.ingest("events", tmp_path / "events.csv")
    yield service
    service.close()


@pytest.fixture(scope="session")
def spark_session():
    """One local SparkSession for the whole run (tests marked ``spark``)."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("segment-studio-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        # adaptive planning re-plans every stage: on test-sized data that doubles the time
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# the REST API tests' workspace (a real file copied per test) and client
from tests.api_support import api, api_template  # noqa: E402, F401
