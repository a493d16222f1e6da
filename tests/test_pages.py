"""Every dashboard page other than the builder, driven headless with AppTest.

One workspace is built per session (the demo when its files are there, else
generated data) and copied for each test, so tests that write never see each
other's changes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from segmentation import SegmentationService
from segmentation.store import ENV_PATH
from tests.conftest import make_frames

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["home", "data", "preview", "estimates", "jobs", "schedules", "exports", "search", "story"]
TITLES = {p: p.capitalize() for p in PAGES} | {"story": "Demo story: a winback campaign"}


@dataclass(frozen=True)
class Workspace:
    path: Path
    cart_segment: str  # name of a segment whose name has "cart" in it
    segment_ids: dict[str, str]  # name -> id
    email: str
    email_profile: str


def _cart_event_type(svc: SegmentationService) -> str:
    types = [t for t, _ in svc.event_types()]
    return next((t for t in types if "cart" in t.lower() or "listadd" in t.lower()), types[0])


def _build(folder: Path) -> Workspace:
    path = folder / "segments.duckdb"
    svc = SegmentationService.open(path)
    try:
        from segmentation.demo import load_demo, sample_files

        sample_files()
        load_demo(svc, history=False)
    except Exception:  # no demo files yet: generated data instead
        profiles, events = make_frames(n_profiles=400, n_events=4000)
        profiles.to_csv(folder / "profiles.csv", index=False)
        events.to_csv(folder / "events.csv", index=False)
        svc.ingest("profiles", folder / "profiles.csv")
        svc.ingest("events", folder / "events.csv")
    names = {d.name for d in svc.definitions.all()}
    if not any("cart" in n.lower() for n in names):
        cart_type = _cart_event_type(svc)
        svc.definitions.create(
            name="Cart adders (page tests)",
            pql=f'select X from xEvent where X.eventType = "{cart_type}"',
        )
    tier = next(
        f
        for f in svc.catalog()
        if f.source == "profile" and f.kind == "text" and f.name != "profile_id" and f.top_values
    )
    if len(svc.definitions.all()) < 2:
        svc.definitions.create(
            name="Top tier (page tests)", pql=f'{tier.name} = "{tier.top_values[0][0]}"'
        )
    svc.jobs.run("*")
    defs = {d.name: d.id for d in svc.definitions.all()}
    mail = next(f.name for f in svc.catalog() if f.source == "profile" and "mail" in f.name.lower())
    row = svc.preview(next(iter(defs.values())), columns=[mail], limit=1).rows.iloc[0]
    cart = next(n for n in defs if "cart" in n.lower())
    svc.close()
    return Workspace(path, cart, defs, str(row[mail]), str(row["profile_id"]))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return _build(tmp_path_factory.mktemp("pages-ws"))


@pytest.fixture
def ws_copy(tmp_path: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the workspace, named by $SEGMENTATION_WORKSPACE."""
    target = tmp_path / "segments.duckdb"
    shutil.copy(workspace.path, target)
    monkeypatch.setenv(ENV_PATH, str(target))
    yield target
    from ui import state

    # close this test's service (scheduler thread, DuckDB file) and forget it
    try:
        state._open(str(target)).close()
    finally:
        state._open.clear()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(f"views/{page}.py").run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_demo_workspace(ws_copy: Path, page: str) -> None:
    at = open_page(page)
    assert_clean(at)
    assert at.title[0].value == TITLES[page]


def test_data_upload_of_a_bad_csv_shows_the_problems(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("data")
    at.radio(key="data_table").set_value("events").run()
    at.radio(key="data_mode").set_value("append").run()
    bad = (
        "profile_id,eventType,timestamp\n"
        f"{workspace.email_profile},page_view,2026-01-01 10:00:00\n"
        "nobody-knows-me,page_view,2026-01-01 10:00:00\n"
        ",page_view,2026-01-01 10:00:00\n"
    ).encode()
    at.file_uploader(key="data_upload").set_value(("bad.csv", bad, "text/csv")).run()
    assert "eventType" in at.selectbox(key="data_type_col").options
    next(b for b in at.button if b.label == "Add rows to events").click().run()
    assert not at.exception, [e.value for e in at.exception]
    summary = " ".join(w.value for w in at.warning)
    assert "rejected" in summary
    rejected = next(m for m in at.metric if m.label == "Rows rejected")
    assert rejected.value == "2"
    problems = at.dataframe[0].value
    assert set(problems["reason"]) == {"missing id", "unknown profile"}
    assert sorted(problems["row"]) == [2, 3]


def test_data_upload_with_every_row_bad_says_nothing_changed(ws_copy: Path) -> None:
    at = open_page("data")
    at.radio(key="data_table").set_value("events").run()
    at.radio(key="data_mode").set_value("append").run()
    bad = b"profile_id,eventType,timestamp\n,page_view,2026-01-01 10:00:00\n"
    at.file_uploader(key="data_upload").set_value(("bad.csv", bad, "text/csv")).run()
    next(b for b in at.button if b.label == "Add rows to events").click().run()
    assert not at.exception
    assert "bad.csv" in at.error[0].value and "missing id" in at.error[0].value


def test_preview_next_page_changes_the_rows(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("preview")
    at.selectbox(key="preview_page_size").set_value(25).run()
    first = at.dataframe[0].value["profile_id"].tolist()
    assert len(first) == 25
    assert next(m for m in at.metric if m.label == "Page").value.startswith("1 of")
    at.button(key="preview_next").click().run()
    assert_clean(at)
    second = at.dataframe[0].value["profile_id"].tolist()
    assert second and not set(first) & set(second)
    assert next(m for m in at.metric if m.label == "Page").value.startswith("2 of")


def test_estimates_metric_shows_the_count(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("estimates")
    seg_id = workspace.segment_ids[workspace.cart_segment]
    at.selectbox(key="est_id").set_value(seg_id).run()
    assert_clean(at)
    from ui import state

    expected = state._open(str(ws_copy)).estimate(seg_id).estimated_size
    metric = next(m for m in at.metric if m.label == "Estimated size")
    assert metric.value == f"{expected:,}"


def test_jobs_run_now_adds_a_succeeded_job(ws_copy: Path) -> None:
    at = open_page("jobs")
    before = len(at.dataframe[0].value) if at.dataframe else 0
    at.button(key="jobs_run").click().run()
    assert_clean(at)
    history = at.dataframe[0].value
    assert len(history) == before + 1
    assert history.iloc[0]["status"] == "Succeeded"


def test_schedules_picked_in_words_write_the_cron_and_the_form_resets(ws_copy: Path) -> None:
    at = open_page("schedules")
    at.text_input(key="sched_name").input("Weekday mornings").run()
    at.radio(key="sched_when").set_value("weekdays").run()
    at.time_input(key="sched_time").set_value(dt.time(6, 30)).run()
    at.selectbox(key="sched_tz").select("Europe/Berlin").run()
    assert_clean(at)
    assert any("`0 30 6 ? * MON-FRI`" in c.value for c in at.caption)
    words = " ".join(s.value for s in at.success)
    assert "06:30" in words and "Monday through Friday" in words
    runs = next(m.value for m in at.markdown if m.value.startswith("Next runs"))
    assert runs.count("\n- ") == 5
    assert "Sat" not in runs and "Sun" not in runs
    assert "CET" in runs and "05:30 UTC" in runs  # in the schedule's timezone and in UTC
    at.button(key="sched_create").click().run()
    assert_clean(at)
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["Weekday mornings", "cron"] == "0 30 6 ? * MON-FRI"
    assert table.loc["Weekday mornings", "when"].endswith("(Europe/Berlin)")
    # the whole form starts over
    assert at.text_input(key="sched_name").value == ""
    assert at.radio(key="sched_when").value == "daily"
    assert at.time_input(key="sched_time").value == dt.time(2, 0)
    assert at.selectbox(key="sched_tz").value == "UTC"


def test_schedules_cron_for_power_users_and_bad_cron(ws_copy: Path) -> None:
    at = open_page("schedules")
    at.radio(key="sched_when").set_value("cron").run()
    at.text_input(key="sched_cron").input("0 0 9 ? * MON,WED").run()
    assert_clean(at)
    assert "09:00" in " ".join(s.value for s in at.success)
    at.text_input(key="sched_cron").input("61 * * * *").run()
    assert at.error, "a bad cron must say what is wrong"
    assert "minute" in at.error[0].value.lower()


def test_exports_create_csv_gives_a_file_and_a_download(
    ws_copy: Path, workspace: Workspace
) -> None:
    at = open_page("exports")
    seg_id = workspace.segment_ids[workspace.cart_segment]
    at.multiselect(key="exp_segments").set_value([seg_id]).run()
    at.button(key="exp_create").click().run()
    assert_clean(at)
    deadline = time.monotonic() + 20
    while not at.download_button and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert at.download_button, "a finished export offers its file"
    files = list((ws_copy.parent / "exports").glob("*.csv"))
    assert len(files) == 1
    assert files[0].name in at.download_button[0].label
    assert (
        files[0].read_text().startswith("segment_id,profile_id")
        or "profile_id" in (files[0].read_text().splitlines()[0])
    )


def test_search_wildcard_finds_the_cart_segment(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("search")
    at.text_input(key="search_q").input("cart*").run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert workspace.cart_segment in text
    assert any(s.value.startswith("Segments (") and s.value != "Segments (0)" for s in at.subheader)


def test_search_email_finds_the_profile(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("search")
    at.text_input(key="search_q").input(workspace.email.upper()).run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert f"Profile `{workspace.email_profile}`" in text


def test_pages_guide_an_empty_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.duckdb"
    SegmentationService.open(path).close()
    monkeypatch.setenv(ENV_PATH, str(path))
    try:
        for page in ["preview", "estimates", "jobs", "exports", "search"]:
            at = open_page(page)
            assert_clean(at)
            assert any("No data yet" in i.value for i in at.info), page
    finally:
        from ui import state

        state._open(str(path)).close()
        state._open.clear()


def test_schedules_edit_switch_off_and_delete(ws_copy: Path) -> None:
    at = open_page("schedules")
    at.text_input(key="sched_name").input("Hourly").run()
    at.radio(key="sched_when").set_value("cron").run()
    at.text_input(key="sched_cron").input("0 * * * *").run()
    at.button(key="sched_create").click().run()
    made = next(o for o in at.selectbox(key="sched_pick").options if "Hourly" in o)
    at.selectbox(key="sched_pick").select(made).run()
    assert at.radio(key="sched_when").value == "cron"  # no words for hourly: cron it stays
    assert at.text_input(key="sched_cron").value == "0 * * * *"
    at.toggle(key="sched_active").set_value(False).run()
    at.button(key="sched_save").click().run()
    assert_clean(at)
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["Hourly", "next run (UTC)"] == "off"
    at.selectbox(key="sched_pick").select(made).run()
    at.button(key="sched_delete").click().run()
    assert_clean(at)
    assert "Hourly" not in set(at.dataframe[0].value["name"]) if at.dataframe else True


def test_search_preview_button_opens_the_segment_in_preview(
    ws_copy: Path, workspace: Workspace
) -> None:
    at = open_page("search")
    at.text_input(key="search_q").input("cart*").run()
    seg_id = workspace.segment_ids[workspace.cart_segment]
    at.button(key=f"search_preview_{seg_id}").click().run()
    assert_clean(at)
    assert at.title[0].value == "Preview"
    assert at.selectbox(key="preview_id").value == seg_id


def test_sidebar_changes_the_workspace_timezone(tmp_path, monkeypatch):
    from ui.state import _open

    path = tmp_path / "tz.duckdb"
    SegmentationService.open(path).close()
    monkeypatch.setenv(ENV_PATH, str(path))
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.selectbox(key="workspace_timezone").set_value("Europe/Berlin").run()
    assert not at.exception
    assert _open(str(path)).timezone == "Europe/Berlin"
    assert any("Europe/Berlin" in e.label for e in at.sidebar.expander)


def test_an_unexpected_error_is_one_short_message_logged_and_the_app_goes_on(
    ws_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken workspace (a table gone from under the app) is a bug, not a traceback."""
    import duckdb

    con = duckdb.connect(str(ws_copy))
    con.execute("DROP TABLE schedules")  # what the Schedules page lists
    con.close()
    with caplog.at_level("ERROR", logger="segment_studio.app"):
        at = open_page("schedules")
    assert not at.exception  # no traceback on the page
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and messages[0].startswith("Something went wrong on this page"), (
        messages
    )
    assert "It was logged" in messages[0]
    assert any("page Schedules failed" in r.getMessage() for r in caplog.records)
    # the sidebar is there and the other pages still work
    assert any("profiles" in m.value for m in at.sidebar.markdown)
    at.switch_page("views/preview.py").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Preview"


def test_data_problems_say_one_row_and_show_no_none(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("data")
    at.radio(key="data_table").set_value("events").run()
    at.radio(key="data_mode").set_value("append").run()
    bad = (
        "profile_id,eventType,timestamp\n"
        f"{workspace.email_profile},page_view,2026-01-01 10:00:00\n"
        ",page_view,2026-01-01 10:00:00\n"
    ).encode()
    at.file_uploader(key="data_upload").set_value(("bad.csv", bad, "text/csv")).run()
    assert_clean(at)
    problems = next(m.value for m in at.markdown if m.value.startswith("**Problems:**"))
    assert problems == "**Problems:** missing id: 1 row"
    table = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert list(table["reason"]) == ["missing id"]
    assert not table.isna().any().any() and "None" not in table.astype(str).values


def test_search_profile_events_show_a_missing_value_as_blank(
    ws_copy: Path, workspace: Workspace
) -> None:
    at = open_page("search")
    at.text_input(key="search_q").input(workspace.email_profile).run()
    assert_clean(at)
    events = at.dataframe[-1].value
    assert len(events) and not events.isna().any().any()


def test_home_counts_its_segments_in_words(ws_copy: Path, workspace: Workspace) -> None:
    at = open_page("home")
    n = len(workspace.segment_ids)
    assert any(c.value.startswith(f"{n} segments. Select a row") for c in at.caption)
    assert any(f"**{n}** segments" in m.value for m in at.sidebar.markdown)


def test_schedules_next_run_is_in_utc_and_the_name_box_looks_empty(ws_copy: Path) -> None:
    at = open_page("schedules")
    at.text_input(key="sched_name").input("Paris mornings").run()
    at.radio(key="sched_when").set_value("daily").run()
    at.time_input(key="sched_time").set_value(dt.time(9, 0)).run()
    at.selectbox(key="sched_tz").select("Europe/Paris").run()
    at.button(key="sched_create").click().run()
    assert_clean(at)
    table = at.dataframe[0].value.set_index("name")
    # 09:00 in Paris is 08:00 UTC in winter, 07:00 in summer; the column says UTC
    assert table.loc["Paris mornings", "next run (UTC)"][-5:] in ("08:00", "07:00")
    assert not any(n in table.loc["Paris mornings", "next run (UTC)"] for n in ("CET", "CEST"))
    placeholder = at.text_input(key="sched_name").placeholder
    assert placeholder.startswith("e.g. ") and placeholder not in set(table.index)


def test_jobs_opened_for_a_segment_show_who_entered_and_left_it(
    ws_copy: Path, workspace: Workspace
) -> None:
    from ui import state

    job = state._open(str(ws_copy)).jobs.list(limit=1)[0]
    wanted = job.segments[-1]  # not the job's first segment
    assert wanted.segment_id != job.segments[0].segment_id
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["segment"] = wanted.segment_id
    at.run()
    at.switch_page("views/jobs.py").run()
    assert_clean(at)
    assert at.selectbox(key="jobs_pick_segment").value == wanted.segment_id
    labels = at.selectbox(key="jobs_pick").options  # as shown
    assert "· Succeeded ·" in labels[0]
    assert "SUCCEEDED" not in " ".join(labels)


def test_jobs_picker_marks_a_what_if_run(ws_copy: Path) -> None:
    from ui import state

    svc = state._open(str(ws_copy))
    first = svc.definitions.all()[0]
    svc.jobs.run([first.id], as_of=dt.datetime(2020, 1, 1))  # before the last run: what-if
    at = open_page("jobs")
    labels = at.selectbox(key="jobs_pick").options  # as shown, newest first
    assert "· Succeeded · what-if · 1 segment" in labels[0]
    assert "what-if" not in labels[1]


def test_exports_of_a_segment_never_run_say_so_and_offer_run_now(ws_copy: Path) -> None:
    from ui import state

    svc = state._open(str(ws_copy))
    fresh = svc.definitions.create(name="Never run yet", pql=svc.definitions.all()[0].pql)
    at = open_page("exports")
    at.multiselect(key="exp_segments").set_value([fresh.id]).run()
    assert_clean(at)
    assert any(
        "“Never run yet” has not been run yet, so there is nothing to export" in i.value
        for i in at.info
    )
    create = at.button(key="exp_create")
    assert create.disabled and "0 rows" not in create.label
    at.button(key="exp_run_now").click().run()
    assert_clean(at)
    expected = svc.last_evaluation(fresh.id)["qualified"]
    create = at.button(key="exp_create")
    assert not create.disabled and create.label == f"Export {expected:,} rows"
    assert not any("not been run yet" in i.value for i in at.info)
