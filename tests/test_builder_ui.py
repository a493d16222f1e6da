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
    return at.switch_page("views/builder.py")


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
    assert any(c.value.endswith("· by DuckDB") for c in app.caption)  # who evaluated it
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


def test_a_part_with_no_widget_is_a_read_only_row_kept_on_edits(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input('age + 1 > 30 and country = "DE"')
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    assert not app.exception
    assert [c.value for c in app.code] == ["age + 1 > 30"]  # shown as written, read-only
    _key_ending(app.selectbox, ":v-eq").select("FR")  # the other row is still a widget
    app.run()
    assert _pql(app) == 'age + 1 > 30 and country = "FR"'


def test_compare_with_another_field(app: AppTest) -> None:
    app.run()
    _key_ending(app.button, ":add-attribute").click()
    app.run()
    for widgets, suffix, value in [
        ("selectbox", ":field", "country"),
        ("selectbox", ":op", "ne"),
        ("segmented_control", ":cmp", True),  # compare with: another field
    ]:
        _key_ending(getattr(app, widgets), suffix).set_value(value)
        app.run()
    other = _key_ending(app.selectbox, ":other")
    assert "Country" not in other.options and "Loyalty tier" in other.options  # text fields
    other.select("loyaltyTier")
    app.run()
    assert not app.exception
    assert _pql(app) == "country != loyaltyTier"


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


def test_event_and_sequence_rows(app: AppTest) -> None:
    app.run()
    _key_ending(app.button, ":add-event").click()
    app.run()
    _key_ending(app.multiselect, ":types").select("purchase")
    app.run()
    _key_ending(app.selectbox, ":how").select("none")
    app.run()
    assert _pql(app) == 'xEvent[eventType = "purchase"].count() = 0'
    _key_ending(app.button, ":add-sequence").click()
    app.run()
    assert not app.exception
    pickers = [m for m in app.multiselect if m.key.endswith(":types")]
    assert len(pickers) == 3  # the event row and two steps
    pickers[1].select("add_to_cart")
    pickers[2].select("purchase")
    app.run()
    assert _pql(app).endswith(
        'chain(xEvent, timestamp, [A: WHAT(eventType = "add_to_cart"), '
        'B: WHAT(eventType = "purchase")])'
    )
    assert not app.error, [e.value for e in app.error]


def test_duplicate_then_delete_with_confirm(app: AppTest) -> None:
    app.run()
    germans = _svc(app).definitions.get("Germans")
    _by_key(app.selectbox, "builder_pick").select(germans.id)
    app.run()
    _by_key(app.button, "builder_dup").click()
    app.run()
    copy_id = _by_key(app.selectbox, "builder_pick").value
    assert copy_id != germans.id and _svc(app).definitions.find(copy_id) is not None
    _by_key(app.button, "builder_del").click()
    app.run()
    assert any("Delete" in w.value for w in app.warning)
    _by_key(app.button, "builder_del_yes").click()
    app.run()
    assert not app.exception
    assert _svc(app).definitions.find(copy_id) is None
    assert _by_key(app.selectbox, "builder_pick").value == "__new__"


def test_no_data_points_to_the_data_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "empty.duckdb"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.switch_page("views/builder.py").run()
    assert not at.exception
    assert any("Data page" in i.value for i in at.info)


def test_unknown_field_is_an_inline_error(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input("noSuchField = 1")
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    assert not app.exception
    assert any("noSuchField" in e.value for e in app.error), [e.value for e in app.error]


def test_run_now_and_version_history(app: AppTest) -> None:
    app.query_params["segment"] = _svc(app).definitions.get("Germans").id
    app.run()
    _by_key(app.button, "builder_run").click()
    app.run()
    assert not app.exception
    assert any("qualified" in s.label or "succeeded" in s.label for s in app.status)
    assert any(e.label.startswith("Version history") for e in app.expander)


def test_examples_fill_the_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from segmentation.samples import DEMO_SEGMENTS

    if not DEMO_SEGMENTS:
        pytest.skip("no example segments shipped yet")
    profiles, events = make_frames(n_profiles=100, n_events=500)
    profiles.to_csv(tmp_path / "profiles.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    svc = SegmentationService.open(str(tmp_path / "ws.duckdb"))
    svc.ingest("profiles", tmp_path / "profiles.csv")
    svc.ingest("events", tmp_path / "events.csv")
    svc.close()
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.switch_page("views/builder.py").run()
    assert any("Start from an example" in i.value for i in at.info)
    _by_key(at.button, "builder_example_0").click()
    at.run()
    assert not at.exception
    assert _pql(at).strip()


def test_waterfall_and_stale_members_are_shown(app: AppTest) -> None:
    app.run()
    svc = _svc(app)
    d = svc.definitions.create(name="Old gold", pql='loyaltyTier = "gold" and age > 30')
    svc.jobs.run([d.id])
    svc.definitions.update(d.id, pql='loyaltyTier = "gold" and age > 40')
    app.query_params["segment"] = d.id
    app.run()
    assert not app.exception
    assert any("Members were last recorded for v1" in w.value for w in app.warning)
    assert any("narrows it most" in e.label for e in app.expander)
    table = app.dataframe[-1].value
    assert list(table["condition"]) == ['loyaltyTier = "gold"', "age > 40"]
    assert table["so_far"].iloc[-1] == svc.preview(d.id).total
    svc.definitions.delete(d.id)


def _draft(pql: str, builder: dict | None) -> str:
    import base64
    import json

    fields = {"pql": pql, "name": "Draft", "description": "", "tags": []}
    if builder is not None:
        fields["builder"] = builder
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def test_a_link_brings_back_a_condition_not_filled_in_yet(app: AppTest) -> None:
    from ui import builder_state as bs

    started = bs.GroupState(
        items=[
            bs.AttributeRow(field="country", op="eq", value="DE"),
            bs.AttributeRow(field="loyaltyTier", op="eq"),  # no value yet
        ]
    )
    app.query_params["draft"] = _draft('country = "DE"', bs.state_to_json(started))
    app.run()
    assert not app.exception
    fields = [w.value for w in app.selectbox if w.key and w.key.endswith(":field")]
    assert fields == ["country", "loyaltyTier"]
    assert _pql(app) == 'country = "DE"'


@pytest.mark.parametrize(
    "builder",
    [
        {"kind": "group", "items": [{"kind": "pql", "pql": "(("}]},  # text edited by hand
        {"kind": "group", "items": [{"kind": "attribute", "field": "age", "op": ">", "value": 3}]},
    ],
    ids=["unreadable", "another rule than the PQL"],
)
def test_a_link_whose_rows_do_not_fit_shows_its_rule(app: AppTest, builder: dict) -> None:
    app.query_params["draft"] = _draft('country = "DE"', builder)
    app.run()
    assert not app.exception
    assert any("unfinished conditions could not be read" in w.value for w in app.warning)
    assert _pql(app) == 'country = "DE"'


def test_delete_of_a_segment_in_use_says_what_uses_it_before_asking(app: AppTest) -> None:
    app.run()
    svc = _svc(app)
    base = svc.definitions.create(name="Base (in use)", pql='country = "FR"')
    user = svc.definitions.create(name="Uses base", pql='inSegment("Base (in use)")')
    sched = svc.schedules.create(name="Nightly base", cron="0 0 2 * * ?", segments=[base.id])
    try:
        app.query_params["segment"] = base.id
        app.run()
        _by_key(app.button, "builder_del").click()
        app.run()
        assert not app.exception
        said = " ".join(w.value for w in app.warning)
        assert "“Base (in use)” cannot be deleted" in said
        assert "the segment “Uses base” and the schedule “Nightly base” use it" in said
        assert not [b for b in app.button if b.key == "builder_del_yes"]  # nothing to confirm
        _by_key(app.button, "builder_del_no").click()
        app.run()
        assert not any("cannot be deleted" in w.value for w in app.warning)
        assert svc.definitions.find(base.id) is not None
    finally:
        svc.schedules.delete(sched.id)
        svc.definitions.delete(user.id)
        svc.definitions.delete(base.id)


def test_a_delete_refused_meanwhile_says_why_once(app: AppTest) -> None:
    app.run()
    svc = _svc(app)
    base = svc.definitions.create(name="Base (raced)", pql='country = "FR"')
    app.query_params["segment"] = base.id
    app.run()
    _by_key(app.button, "builder_del").click()
    app.run()
    sched = svc.schedules.create(name="Made meanwhile", cron="0 0 2 * * ?", segments=[base.id])
    try:
        _by_key(app.button, "builder_del_yes").click()
        app.run()
        messages = [e.value for e in app.error]
        assert len(messages) == 1 and "Made meanwhile" in messages[0], messages
        assert messages[0].count("Cannot delete") == 1
    finally:
        svc.schedules.delete(sched.id)
        svc.definitions.delete(base.id)


def test_a_whole_number_typed_in_reads_without_a_decimal_point(app: AppTest) -> None:
    app.run()
    _key_ending(app.button, ":add-attribute").click()
    app.run()
    _key_ending(app.selectbox, ":field").select("age")
    app.run()
    _key_ending(app.selectbox, ":op").set_value(">")
    app.run()
    _key_ending(app.number_input, ":v->").set_value(1000.0)
    app.run()
    assert not app.exception
    assert _pql(app) == "age > 1000"
    who = next(m.value for m in app.markdown if m.value.startswith("**Who:**"))
    assert "more than 1000." in who and "1000.0" not in who


def test_the_words_of_a_saved_rule_with_a_float_say_it_whole(app: AppTest) -> None:
    app.run()
    _by_key(app.text_area, "builder_pql_text").input("age > 1000.0")
    _by_key(app.button, "builder_pql_apply").click()
    app.run()
    who = next(m.value for m in app.markdown if m.value.startswith("**Who:**"))
    assert "more than 1000." in who and "1000.0" not in who, who


def _badge(at: AppTest) -> bool:
    return any("Unsaved changes" in m.value for m in at.markdown)


def test_a_save_with_the_blank_row_of_a_group_leaves_nothing_unsaved(app: AppTest) -> None:
    app.run()
    _key_ending(app.button, ":add-attribute").click()
    app.run()
    _key_ending(app.selectbox, ":field").select("country")
    app.run()
    _key_ending(app.selectbox, ":v-eq").select("FR")
    app.run()
    _key_ending(app.button, ":add-group").click()  # a group starts with a blank row
    app.run()
    _by_key(app.text_input, "builder_name").input("French (group started)")
    app.run()
    _by_key(app.button, "builder_save").click()
    app.run()
    assert not app.exception
    saved = _svc(app).definitions.find("French (group started)")
    assert saved is not None and saved.pql == 'country = "FR"'
    assert not _badge(app)
    assert "draft" not in app.query_params
    # nothing changed: saving again is not the main action, and saves nothing
    save = _by_key(app.button, "builder_save")
    assert save.proto.type == "secondary" and "Nothing changed since v1" in save.help
    save.click()
    app.run()
    assert any("nothing was saved" in i.value for i in app.info)
    assert _svc(app).definitions.get(saved.id).version == 1
    # an edit makes it the main action again
    _key_ending(app.selectbox, ":v-eq").select("DE")
    app.run()
    assert _badge(app) and _by_key(app.button, "builder_save").proto.type == "primary"
    _svc(app).definitions.delete(saved.id)


def _apply(at: AppTest, text: str) -> None:
    _by_key(at.text_area, "builder_pql_text").input(text)
    _by_key(at.button, "builder_pql_apply").click()
    at.run()


def test_preview_of_a_segment_with_unsaved_edits_says_it_shows_the_saved_one(
    app: AppTest,
) -> None:
    germans = _svc(app).definitions.get("Germans")
    app.query_params["segment"] = germans.id
    app.run()
    _apply(app, 'country = "FR"')
    app.switch_page("views/preview.py").run()
    assert not app.exception
    notes = [i.value for i in app.info]
    assert any(
        "Showing the saved version of “Germans”; your unsaved changes in the Builder are not "
        "included." in n
        for n in notes
    ), notes
    saved = _svc(app).preview(germans.id).total
    assert next(m for m in app.metric if m.label == "Qualified profiles").value == f"{saved:,}"
    _by_key(app.button, "preview_use_draft").click()
    app.run()
    assert not app.exception
    assert _by_key(app.text_area, "preview_pql").value == 'country = "FR"'
    assert any("unsaved rule of “Germans”" in i.value for i in app.info)
    draft = _svc(app).preview('country = "FR"').total
    assert next(m for m in app.metric if m.label == "Qualified profiles").value == f"{draft:,}"


def test_estimates_from_a_new_unsaved_segment_show_its_rule_not_another_segment(
    app: AppTest,
) -> None:
    app.run()
    _apply(app, 'country = "FR"')
    app.switch_page("views/estimates.py").run()
    assert not app.exception
    assert _by_key(app.radio, "est_mode").value == "PQL text"
    assert _by_key(app.text_area, "est_pql").value == 'country = "FR"'
    assert any("unsaved rule of the new segment" in i.value for i in app.info)
    expected = _svc(app).estimate('country = "FR"').estimated_size
    assert next(m for m in app.metric if m.label == "Estimated size").value == f"{expected:,}"


def test_no_note_once_the_edits_are_saved(app: AppTest) -> None:
    svc = _svc(app)
    d = svc.definitions.create(name="Saved then previewed", pql='country = "DE"')
    app.query_params["segment"] = d.id
    app.run()
    _apply(app, 'country = "GB"')
    _by_key(app.button, "builder_save").click()
    app.run()
    app.switch_page("views/preview.py").run()
    assert not any("Showing the saved version" in i.value for i in app.info)
    svc.definitions.delete(d.id)
