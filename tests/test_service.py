"""The facade end to end: bad requests change nothing; a reopened workspace keeps everything."""

from __future__ import annotations

import contextlib
import itertools
import json
import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmentation import SegmentationError, SegmentationService, model
from segmentation.errors import (
    ConflictError,
    ExpressionError,
    InvalidInputError,
    NotFoundError,
    PQLSyntaxError,
)
from segmentation.exports import ExportRequest
from segmentation.model import BoolConst, Not
from segmentation.pql import parse, to_pql
from tests.conftest import AS_OF, make_frames
from tests.test_pql import VOCABULARY, conditions


def snapshot(svc: SegmentationService) -> dict:
    tables = ["definitions", "definition_versions", "jobs", "memberships", "schedules", "exports"]
    return {t: svc.db.scalar(f"SELECT count(*) FROM {t}") for t in tables}


@pytest.fixture
def ready(svc: SegmentationService) -> SegmentationService:
    gold = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run([gold.id], as_of=AS_OF)
    return svc


BAD_REQUESTS = [
    ("unknown definition id", lambda s: s.definitions.get("nope"), NotFoundError),
    ("unknown job id", lambda s: s.jobs.get("nope"), NotFoundError),
    ("duplicate name", lambda s: s.definitions.create(name="gold", pql="age > 1"), ConflictError),
    (
        "self reference",
        lambda s: s.definitions.update("Gold", pql='inSegment("Gold")'),
        ConflictError,
    ),
    (
        "invalid cron",
        lambda s: s.schedules.create(name="x", cron="0 0 25 * * ?", segments=["*"]),
        InvalidInputError,
    ),
    (
        "unknown timezone",
        lambda s: s.schedules.create(
            name="x", cron="0 0 1 * * ?", segments=["*"], timezone="Mars/Base"
        ),
        InvalidInputError,
    ),
    (
        "schedule of unknown segment",
        lambda s: s.schedules.create(name="x", cron="0 0 1 * * ?", segments=["nope"]),
        NotFoundError,
    ),
    (
        "export of unknown segment",
        lambda s: s.exports.create({"segments": ["nope"], "format": "csv"}),
        NotFoundError,
    ),
    (
        "export of unknown field",
        lambda s: s.exports.create(
            {"segments": [s.definitions.get("Gold").id], "fields": ["nope"]}
        ),
        InvalidInputError,
    ),
    ("workspace timezone", lambda s: s.set_timezone("Nowhere/Land"), InvalidInputError),
    ("job of nothing", lambda s: s.jobs.run([]), InvalidInputError),
    (
        "PQL injection",
        lambda s: s.preview('country = "US"; DROP TABLE profiles; --'),
        SegmentationError,
    ),
]


@pytest.mark.parametrize(("label", "call", "error"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_say_why_and_change_nothing(ready: SegmentationService, label, call, error):
    before = snapshot(ready)
    members = ready.members("Gold")
    with pytest.raises(error) as info:
        call(ready)
    assert info.value.message and "Traceback" not in info.value.message
    assert snapshot(ready) == before
    pd.testing.assert_frame_equal(ready.members("Gold"), members)
    assert ready.info()["profiles"] == 400


def _nested_nots(n: int) -> dict:
    tree: dict = {"kind": "bool", "value": True}
    for _ in range(n):
        tree = {"kind": "not", "item": tree}
    return tree


def _python_nots(n: int) -> Not:
    tree = Not(item=BoolConst(value=True))
    for _ in range(n):
        tree = Not(item=tree)
    return tree


def _create(expression):
    return lambda s: s.definitions.create(name="New", expression=expression)


# One row per class of input that used to reach a Python or DuckDB traceback (issue #11):
# label, call, the error, a fragment of its message.
HOSTILE_INPUTS = [
    ("lookahead regex", lambda s: s.preview('email matches "^(?!test).*"'), PQLSyntaxError,
     "line 1, column 17: regular expression: lookahead"),
    ("named group regex", lambda s: s.estimate('email matches "(?P<x>..)"'), PQLSyntaxError,
     "named groups"),
    ("huge regex count", lambda s: s.definitions.create(name="N", pql='email matches "a{1000000}"'),
     PQLSyntaxError, "count above 1000"),
    ("huge hour amount", lambda s: s.preview("xEvent[timestamp occurs <= 99999999999999 hours "
     "before now].count() > 0"), PQLSyntaxError, "longer than the calendar"),
    ("huge chain count", lambda s: s.estimate('chain(xEvent, timestamp, [A: WHAT(eventType = '
     '"purchase") COUNT(9223372036854775808)])'), PQLSyntaxError, "too large"),
    ("lone surrogate", lambda s: s.preview('email = "\\ud83d"'), PQLSyntaxError,
     "half of a surrogate pair"),
    ("malformed dict", _create({"kind": "compare", "op": "="}), ExpressionError,
     "Invalid expression at expression: 'left' is missing"),
    ("unknown kind", _create({"kind": "and", "items": [{"kind": "bool", "value": True},
     {"kind": "nope"}]}), ExpressionError, "expression.items[1]: unknown kind 'nope'"),
    ("dict 1,000 deep", _create(_nested_nots(1000)), ExpressionError, "nested deeper than 50"),
    ("JSON 300 deep", _create(json.dumps(_nested_nots(300))), ExpressionError,
     "nested deeper than 50"),
    ("Python tree 1,000 deep", lambda s: s.preview(_python_nots(1000)), ExpressionError,
     "nested deeper than 50"),
    ("regex in a dict", lambda s: s.estimate({"kind": "text", "op": "matches", "value": "(?=a)",
     "operand": {"kind": "field", "path": "email"}}), ExpressionError,
     "expression.value: the pattern is not in PQL's regex dialect"),
    ("occurs on a fixed time (found by the fuzz)", lambda s: s.preview("now occurs before now"),
     InvalidInputError, "now is a fixed value"),
    ("timezone of 300 characters", lambda s: s.set_timezone("Europe/" + "x" * 300),
     InvalidInputError, "unknown timezone"),
    ("schedule timezone of 300 characters", lambda s: s.schedules.create(name="x",
     cron="0 0 1 * * ?", segments=["*"], timezone="x" * 300), InvalidInputError,
     "unknown timezone"),
    ("as of past year 9999 in UTC", lambda s: s.preview("age > 1",
     as_of="9999-12-31T23:59:59-01:00"), InvalidInputError, "out of range in UTC"),
    ("as of before year 1 in UTC", lambda s: s.jobs.run("*",
     as_of="0001-01-01T00:00:00+01:00"), InvalidInputError, "out of range in UTC"),
    ("export from before year 1 in UTC", lambda s: s.exports.create(ExportRequest(
     segments=["Gold"], qualified_after="0001-01-01T00:00:00+01:00")), InvalidInputError,
     "out of range in UTC"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "call", "error", "fragment"), HOSTILE_INPUTS, ids=[h[0] for h in HOSTILE_INPUTS]
)
def test_hostile_inputs_are_clear_errors_and_change_nothing(
    ready: SegmentationService, label, call, error, fragment
):
    before = snapshot(ready)
    members = ready.members("Gold")
    with pytest.raises(error) as info:
        call(ready)
    assert fragment in info.value.message
    info.value.message.encode("utf-8")  # printable anywhere
    assert snapshot(ready) == before
    assert ready.timezone == "UTC"
    pd.testing.assert_frame_equal(ready.members("Gold"), members)


def test_year_9999_is_a_date_like_any_other(svc: SegmentationService, frames):
    _, events = frames
    with_events = events["profile_id"].nunique()
    before_as_of = events.loc[events["timestamp"] <= AS_OF, "profile_id"].nunique()
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        svc.set_timezone(zone)
        cases = {
            "timestamp occurs before date(9999, 12, 31)": with_events,
            "timestamp occurs between date(1, 1, 1) and date(9999, 12, 31)": with_events,
            "timestamp occurs on date(9999, 12, 31)": 0,
            "timestamp occurs after date(9999, 12, 31)": 0,
            "timestamp occurs <= 9999 years before now": before_as_of,
            "timestamp occurs > 5000 years after now": 0,
        }
        for window, expected in cases.items():
            pql = f"xEvent[{window}].count() > 0"
            assert svc.preview(pql, as_of=AS_OF).total == expected, (zone, window)
            assert svc.estimate(pql, as_of=AS_OF).estimated_size == expected, (zone, window)


def test_export_of_a_deleted_segment_is_refused(ready: SegmentationService):
    gold_id = ready.definitions.get("Gold").id
    ready.definitions.delete(gold_id)
    with pytest.raises(NotFoundError):
        ready.exports.create({"segments": [gold_id], "format": "csv"})
    assert not list(ready.exports_dir.glob("*")) if ready.exports_dir.exists() else True


def test_delete_refused_while_a_schedule_uses_it(ready: SegmentationService):
    gold = ready.definitions.get("Gold")
    ready.schedules.create(name="Nightly gold", cron="0 0 1 * * ?", segments=[gold.id])
    with pytest.raises(ConflictError, match="Nightly gold"):
        ready.definitions.delete(gold.id)
    assert ready.definitions.get(gold.id)


def test_close_and_reopen_keeps_everything(tmp_path, frames):
    profiles, events = frames
    profiles.to_csv(tmp_path / "p.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path, exports_dir=tmp_path / "exports")
    svc.ingest("profiles", tmp_path / "p.csv")
    svc.ingest("events", tmp_path / "e.csv")
    svc.set_timezone("Europe/Berlin")
    d = svc.definitions.create(name="Buyers", pql='xEvent[eventType = "purchase"].count() >= 1')
    job = svc.jobs.run([d.id], as_of=AS_OF)
    schedule = svc.schedules.create(name="Nightly", cron="0 0 1 * * ?", segments=["*"])
    export = svc.exports.create({"segments": [d.id], "format": "parquet"})
    members = svc.members(d.id)
    svc.close()

    again = SegmentationService.open(path, exports_dir=tmp_path / "exports")
    assert again.timezone == "Europe/Berlin"
    assert again.definitions.get(d.id).pql == d.pql
    assert again.jobs.get(job.id).status == "SUCCEEDED"
    assert again.schedules.get(schedule.id).name == "Nightly"
    assert again.exports.get(export.id).status == "SUCCEEDED"
    pd.testing.assert_frame_equal(again.members(d.id), members)
    exported = pd.read_parquet(again.exports.get(export.id).files[0])
    assert sorted(exported["profile_id"]) == sorted(members["profile_id"])
    assert {f.name for f in again.catalog()} >= {"profile_id", "loyaltyTier", "eventType"}
    again.close()


def test_events_of_unknown_profiles_never_qualify(tmp_path, frames):
    """Events loaded before their profiles are kept; segments still only return
    loaded profiles, because the fast events-only plan is used only when it is safe."""
    profiles, events = frames
    events.to_csv(tmp_path / "e.csv", index=False)
    profiles.head(100).to_csv(tmp_path / "p.csv", index=False)
    svc = SegmentationService.open(":memory:", exports_dir=tmp_path / "exports")
    svc.ingest("events", tmp_path / "e.csv")
    svc.ingest("profiles", tmp_path / "p.csv")
    assert svc.db.get_meta("events_within_profiles") == "0"
    page = svc.preview('xEvent[eventType = "purchase"].count() >= 1', as_of=AS_OF, limit=1000)
    assert set(page.rows["profile_id"]) <= set(profiles.head(100)["profile_id"])
    svc.close()


def test_fast_plan_is_used_when_every_event_has_its_profile(svc: SegmentationService, frames):
    _, events = frames
    assert svc.db.get_meta("events_within_profiles") == "1"
    sql, _ = svc.compile('xEvent[eventType = "purchase"].count() >= 1', AS_OF)
    assert '"profiles"' not in sql
    bought = set(
        events[(events["eventType"] == "purchase") & (events["timestamp"] <= AS_OF)]["profile_id"]
    )
    assert svc.preview(
        'xEvent[eventType = "purchase"].count() >= 1', as_of=AS_OF, limit=1000
    ).total == len(bought)


def test_huge_definitions_are_refused_early(svc: SegmentationService):
    huge = " or ".join(f"age = {i}" for i in range(2_000))
    with pytest.raises(InvalidInputError, match="at most 2,000"):
        svc.preview(huge)
    assert svc.preview(" or ".join(f"age = {i}" for i in range(200))).total >= 0


# --- fuzz: only SegmentationError ever leaves the facade ------------------------------------


@pytest.fixture(scope="module")
def fuzz_svc(tmp_path_factory) -> SegmentationService:
    folder = tmp_path_factory.mktemp("fuzz")
    profiles, events = make_frames(n_profiles=60, n_events=400)
    profiles.to_csv(folder / "profiles.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    service = SegmentationService.open(":memory:", exports_dir=folder / "exports")
    service.ingest("profiles", folder / "profiles.csv")
    service.ingest("events", folder / "events.csv")
    yield service
    service.close()


_NODES = [
    cls
    for cls in vars(model).values()
    if isinstance(cls, type) and issubclass(cls, model.Node) and cls is not model.Node
]
_KINDS = sorted({cls.model_fields["kind"].default for cls in _NODES if "kind" in cls.model_fields})
_KEYS = sorted({name for cls in _NODES for name in cls.model_fields} - {"kind"})
_WORDS = ["age", "country", "email", "eventType", "timestamp", "revenue", "purchase", "=", ">=",
          "count", "sum", "now", "day", "before", "matches", "(?!a)", "\ud83d", "US"]  # fmt: skip
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=4)
    | st.sampled_from(_WORDS + _KINDS)
)


def _node(children):
    return st.builds(
        lambda kind, rest: {**rest, "kind": kind},
        st.sampled_from(_KINDS),
        st.dictionaries(st.sampled_from(_KEYS), children, max_size=4),
    )


TREES_AS_DATA = st.recursive(
    _LEAVES, lambda children: st.lists(children, max_size=3) | _node(children), max_leaves=12
)
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_names = itertools.count()


def _only_segmentation_errors(svc: SegmentationService, query) -> None:
    before = snapshot(svc)
    try:
        created = svc.definitions.create(name=f"fuzz {next(_names)}", expression=query)
    except SegmentationError:
        assert snapshot(svc) == before
    else:
        svc.definitions.delete(created.id)
    for call in (svc.preview, svc.estimate):
        with contextlib.suppress(SegmentationError):
            call(query, as_of=AS_OF)


@FUZZ
@given(data=TREES_AS_DATA)
def test_fuzz_trees_as_data(fuzz_svc: SegmentationService, data) -> None:
    _only_segmentation_errors(fuzz_svc, data)
    _only_segmentation_errors(fuzz_svc, json.dumps(data))


@FUZZ
@given(tree=conditions("profile"))
def test_fuzz_valid_trees_as_data_and_as_text(fuzz_svc: SegmentationService, tree) -> None:
    _only_segmentation_errors(fuzz_svc, tree)
    _only_segmentation_errors(fuzz_svc, model.expression_to_dict(tree))
    text = to_pql(tree)
    for call in (parse, fuzz_svc.preview, fuzz_svc.estimate):
        with contextlib.suppress(SegmentationError):
            call(text)


@FUZZ
@given(tokens=st.lists(st.sampled_from(VOCABULARY), max_size=20))
def test_fuzz_pql_text(fuzz_svc: SegmentationService, tokens: list[str]) -> None:
    text = " ".join(tokens)
    for call in (
        parse,
        fuzz_svc.preview,
        fuzz_svc.estimate,
        lambda t: fuzz_svc.definitions.delete(
            fuzz_svc.definitions.create(name=f"fuzz {next(_names)}", pql=t).id
        ),
    ):
        with contextlib.suppress(SegmentationError):
            call(text)
