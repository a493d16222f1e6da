"""The Builder page, driven headless through app.py with AppTest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from segmentation import SegmentationService
from segmentation.store import ENV_PATH
from tests.conftest import make_frames

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with generated profiles and events and one saved segment."""
    folder = tmp_path_factory.mktemp("builder-ws")
    profiles, events = make_frames(n_profiles=300, n_events=3000)
    profiles.to_csv(folder / "profiles.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    path = folder / "segments.duckdb"
    svc = SegmentationService.open(str(path))
    svc.ingest("profiles", folder / "profiles.csv")
    svc.ingest("events", folder / "events.csv")
    svc.definitions.create(name="Germans", pql='country = "DE"', tags=["geo"])
    svc.close()
    return path


@pytest.fixture
def app(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(ENV_PATH, str(workspace))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    return at


def _svc(at: AppTest) -> SegmentationService:
    """The page's own (cached) service, so reads see its writes."""
    from ui.state import _open

    return _open(os.environ[ENV_PATH])


def _by_key(items, key: str):
    found = [w for w in items if w.key == key]
    assert found, f"no widget with key {key}"
    return found[0]


def _key_ending(items, suffix: str):
    found = [w for w in items if w.key and w.key.endswith(suffix)]
    assert found, f"no widget whose key ends with {suffix}"
    return found[-1]


def _pql(at: AppTest) -> str:
    return _by_key(at.text_area, "builder_pql_text").value


def test_page_renders_without_exception(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.title[0].value == "Segment builder"
    assert [t.label for t in app.tabs][:2] == ["Visual", "PQL"]
    assert _by_key(app.selectbox, "builder_pick").value == "__new__"


def test_attribute_condition_updates_pql_and_estimate(app: AppTest) -> None:
    app.run()
    _key_ending(app.button, ":add-attribute").click()
    app.run()
    _key_ending(app.selectbox, ":field").select("country")
    app.run()
    _key_ending(app.selectbox, ":op").select("in")
    app.run()
    _key_ending(app.multiselect, ":v-in").select("DE").select("FR")
    app.run()
    assert not app.exception
    assert _pql(app) == 'country in ["DE", "FR"]'
    metric = app.metric[-1]
    assert metric.label == "Estimated size"
    svc = _svc(app)
    expected = svc.estimate('country in ["DE", "FR"]').estimated_size
    assert f"{expected:,} profiles" in metric.value
    assert not app.error


def test_pql_syntax_error_shows_line_and_column(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input('country = "DE" and\n  age >')
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    assert not app.exception
    messages = [e.value for e in app.error]
    assert any("Line 2, column" in m for m in messages), messages


def test_pql_apply_loads_visual_builder(app: AppTest) -> None:
    app.run()
    text = 'country = "DE" and xEvent[eventType = "purchase"].count() >= 2'
    _by_key(app.text_area, "builder_pql_text").input(text)
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    assert not app.exception
    assert _key_ending(app.selectbox, ":field").value == "country"
    assert _pql(app) == text


def test_rare_shape_is_edited_as_pql(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input("age + 1 > 30")
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    assert not app.exception
    assert any("edited as PQL" in i.value for i in app.info)


def test_save_creates_a_definition(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input("age >= 65")
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    _by_key(app.text_input, "builder_name").input("Seniors")
    app.run()
    _by_key(app.button, "builder_save").click()
    app.run()
    assert not app.exception
    saved = _svc(app).definitions.find("Seniors")
    assert saved is not None and saved.pql == "age >= 65"
    assert any("saved" in s.value for s in app.success)
    assert app.query_params["segment"] == [saved.id] or app.query_params["segment"] == saved.id
    # a second save is a new version
    _by_key(app.text_area, "builder_pql_text").input("age >= 67")
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    _by_key(app.button, "builder_save").click()
    app.run()
    assert _svc(app).definitions.get(saved.id).version == 2
    assert any("v2 saved" in s.value for s in app.success)


def test_segment_query_param_opens_it(app: AppTest) -> None:
    app.run()
    germans = _svc(app).definitions.get("Germans")
    app.query_params["segment"] = germans.id
    app.run()
    assert not app.exception
    assert _by_key(app.selectbox, "builder_pick").value == germans.id
    assert _by_key(app.text_input, "builder_name").value == "Germans"
    assert _pql(app) == 'country = "DE"'
