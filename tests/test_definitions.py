"""Definitions: create, list, update with versions, duplicate, delete rules, persistence."""

from __future__ import annotations

import json
import threading
from functools import partial

import pytest

from segmentation import SegmentationError, SegmentationService
from segmentation.errors import (
    ConflictError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    PQLSyntaxError,
    UnknownFieldError,
)
from segmentation.jobs import KIND as JOB_KIND


def test_create_get_by_id_and_name(svc: SegmentationService):
    d = svc.definitions.create(
        name="  Gold  members ", pql='loyaltyTier = "gold"', tags=["loyalty", "loyalty", " vip "]
    )
    assert d.name == "Gold members"
    assert d.version == 1
    assert d.tags == ["loyalty", "vip"]
    assert d.pql == 'loyaltyTier = "gold"'
    assert svc.definitions.get(d.id) == d
    assert svc.definitions.get("gold MEMBERS").id == d.id


def test_update_bumps_version_and_keeps_old(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    v2 = svc.definitions.update(d.id, pql='loyaltyTier in ["gold", "silver"]', description="wider")
    assert v2.version == 2 and v2.description == "wider"
    versions = svc.definitions.versions(d.id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].pql == 'loyaltyTier = "gold"'


def test_list_paging_sorting_and_filters(svc: SegmentationService):
    for name, tag in [("b one", "x"), ("a two", "y"), ("c three", "x")]:
        svc.definitions.create(name=name, pql="age > 30", tags=[tag])
    page = svc.definitions.list(limit=2, sort="name")
    assert [d.name for d in page.items] == ["a two", "b one"]
    assert page.total == 3 and page.next_offset == 2
    assert [d.name for d in svc.definitions.list(tag="x").items] == ["b one", "c three"]
    assert [d.name for d in svc.definitions.list(name_contains="THR").items] == ["c three"]
    assert svc.definitions.list(offset=2, sort="-name").items[0].name == "a two"


def test_duplicate_gets_a_free_name(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    first = svc.definitions.duplicate(d.id)
    second = svc.definitions.duplicate(d.id)
    assert (first.name, second.name) == ("Gold (copy)", "Gold (copy 2)")
    assert first.expression == d.expression


def test_delete_refused_while_referenced_then_allowed(svc: SegmentationService):
    base = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    user = svc.definitions.create(name="Gold US", pql='inSegment("Gold") and country = "US"')
    with pytest.raises(ConflictError, match="Gold US"):
        svc.definitions.delete(base.id)
    assert svc.definitions.get(base.id)
    svc.definitions.delete(user.id)
    svc.definitions.delete(base.id)
    with pytest.raises(NotFoundError):
        svc.definitions.get(base.id)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "", "pql": "age > 1"}, InvalidInputError, "needs a name"),
        ({"name": "x", "pql": "age >"}, PQLSyntaxError, "line 1, column 6"),
        ({"name": "x", "pql": "agee > 1"}, InvalidInputError, "age"),
        ({"name": "x", "pql": "country > 5"}, InvalidInputError, "country"),
        ({"name": "x", "pql": 'inSegment("nope")'}, NotFoundError, "nope"),
        ({"name": "x"}, InvalidInputError, "either as PQL text or as an expression"),
    ],
)
def test_bad_definitions_change_nothing(svc: SegmentationService, kwargs, error, message):
    svc.definitions.create(name="Keep", pql="age > 1")
    with pytest.raises(error, match=message):
        svc.definitions.create(**kwargs)
    assert [d.name for d in svc.definitions.all()] == ["Keep"]


def test_duplicate_names_refused_case_insensitively(svc: SegmentationService):
    svc.definitions.create(name="Gold", pql="age > 1")
    with pytest.raises(ConflictError, match="already exists"):
        svc.definitions.create(name="GOLD", pql="age > 2")
    other = svc.definitions.create(name="Silver", pql="age > 3")
    with pytest.raises(ConflictError):
        svc.definitions.update(other.id, name="gold")
    assert svc.definitions.get(other.id).version == 1


def test_cycles_are_refused(svc: SegmentationService):
    a = svc.definitions.create(name="A", pql="age > 1")
    svc.definitions.create(name="B", pql='inSegment("A")')
    with pytest.raises(ConflictError, match="cycle"):
        svc.definitions.update(a.id, pql='inSegment("B")')
    with pytest.raises(ConflictError, match="cycle"):
        svc.definitions.update(a.id, pql='inSegment("A")')
    assert svc.definitions.get(a.id).pql == "age > 1"


def test_everything_survives_reopen(tmp_path):
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path)
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"', tags=["t"])
    svc.definitions.update(d.id, description="kept")
    svc.close()
    again = SegmentationService.open(path)
    got = again.definitions.get(d.id)
    assert (got.description, got.version, got.tags) == ("kept", 2, ["t"])
    again.close()


def test_aep_json_round_trip(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"', description="g", tags=["a"])
    payload = svc.export_aep([d.id])
    assert payload[0]["expression"] == {"type": "PQL", "format": "pql/text", "value": d.pql}
    assert payload[0]["schema"] == {"name": "_xdm.context.profile"}
    created = svc.import_aep(payload, on_conflict="rename")
    assert created[0].name == "Gold (imported)"
    assert created[0].expression == d.expression and created[0].tags == ["a"]
    with pytest.raises(ConflictError):
        svc.import_aep(payload)


def test_aep_json_in_pql_json_round_trip(svc: SegmentationService):
    pql = (
        'loyaltyTier = "gold" and xEvent[eventType = "purchase" and timestamp occurs <= '
        "30 days before now].sum(revenue) > 100"
    )
    d = svc.definitions.create(name="Gold buyers", pql=pql)
    payload = svc.export_aep([d.id], expression_format="pql/json")
    expression = payload[0]["expression"]
    assert expression["format"] == "pql/json" and isinstance(expression["value"], str)
    assert json.loads(expression["value"])["fnName"] == "and"  # a JSON document in a string
    created = svc.import_aep(payload, on_conflict="rename")
    assert created[0].expression == d.expression and created[0].pql == d.pql
    with pytest.raises(InvalidInputError, match="pql/text or pql/json"):
        svc.export_aep([d.id], expression_format="pql/xml")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "holds no definitions"),
        ('[{"name": "x"}]', "'expression' must be"),
        (
            '{"name": "x", "expression": {"type": "PQL", "format": "pql/json", "value": "{}"}}',
            "Invalid expression at definition 1.expression.value: expected a node",
        ),
        (
            '{"name": "x", "expression": {"type": "PQL", "format": "pql/yaml", "value": "a"}}',
            "not supported yet: expression format 'pql/yaml'",
        ),
        (
            '[{"name": "a", "expression": {"value": "age > 1"}}, '
            '{"name": "A", "expression": {"value": "age > 2"}}]',
            "twice",
        ),
        (
            '[{"name": "ok", "expression": {"value": "age > 1"}}, '
            '{"name": "bad", "expression": {"value": "age >"}}]',
            "line 1",
        ),
    ],
)
def test_bad_aep_imports_create_nothing(svc: SegmentationService, payload, message):
    with pytest.raises(SegmentationError, match=message):
        svc.import_aep(payload)
    assert svc.definitions.all() == []


def test_rename_refused_while_referenced_by_name(svc: SegmentationService):
    base = svc.definitions.create(name="France", pql='country = "FR"')
    svc.definitions.create(name="French gold", pql='inSegment("France") and loyaltyTier = "gold"')
    with pytest.raises(ConflictError, match=f'inSegment\\("{base.id}"\\)'):
        svc.definitions.update(base.id, name="FR")
    assert svc.definitions.get(base.id).name == "France"
    svc.definitions.update("French gold", pql=f'inSegment("{base.id}") and loyaltyTier = "gold"')
    assert svc.definitions.update(base.id, name="FR").name == "FR"
    assert svc.jobs.run("*").status == "SUCCEEDED"


def test_update_of_a_definition_deleted_meanwhile(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    stale = svc.definitions.get(d.id)
    svc.definitions.delete(d.id)
    with pytest.raises(NotFoundError):
        svc.definitions.update(stale.id, description="too late")
    assert svc.definitions.all() == []


@pytest.mark.parametrize(
    ("pql", "line", "column", "says"),
    [
        ("xEvent.commerce.order.priceTotal > 1", 1, 8, "Unknown event field 'commerce.order"),
        ("age > 1 and\n  xEvent[revenue > $1.agee].count() > 0", 2, 23, "Did you mean 'age'?"),
        ("select X from xEvent where X.revenu > 1", 1, 30, "Did you mean 'revenue'"),
        ('(P) => P.countri = "US"', 1, 10, "Did you mean 'country'?"),
    ],
)
def test_unknown_fields_are_named_at_their_position(svc, pql, line, column, says):
    """Saving, previewing or estimating PQL with an unknown field points at it."""
    calls = (
        lambda: svc.definitions.create(name="Unknown", pql=pql),
        lambda: svc.preview(pql),
        lambda: svc.estimate(pql),
    )
    for call in calls:
        with pytest.raises(UnknownFieldError) as info:
            call()
        assert says in info.value.message
        assert f"(line {line}, column {column})" in info.value.message
    assert svc.definitions.list().items == []  # nothing was stored


def test_bulk_get_keeps_the_order_asked_reads_names_and_refuses_an_unknown_one(svc) -> None:
    a = svc.definitions.create(name="Alpha", pql="age > 30")
    b = svc.definitions.create(name="Beta", pql="age > 40")
    assert [d.id for d in svc.definitions.bulk_get([b.id, a.id, b.id])] == [b.id, a.id, b.id]
    assert [d.id for d in svc.definitions.bulk_get(["beta", a.id])] == [b.id, a.id]
    assert svc.definitions.bulk_get([]) == []
    with pytest.raises(NotFoundError):
        svc.definitions.bulk_get([a.id, "no-such-segment"])


def _race(*calls) -> list[BaseException | None]:
    """Each call on its own thread, released at once; what each raised (None: it worked)."""
    barrier, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except SegmentationError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_a_delete_and_a_new_reference_to_it_never_both_succeed(svc: SegmentationService):
    """Either the reference (a definition or a schedule) is made first and the delete is
    refused, or the delete goes first and the reference is refused: never both, which
    left a dangling id that failed every run of '*'."""
    for i in range(12):
        target = svc.definitions.create(name=f"target {i}", pql='loyaltyTier = "gold"')
        if i % 2:
            refer = partial(svc.schedules.create, f"sched {i}", "0 0 1 * * ?", [target.id])
        else:
            refer = partial(
                svc.definitions.create, name=f"ref {i}", pql=f'inSegment("{target.id}")'
            )
        outcomes = _race(partial(svc.definitions.delete, target.id), refer)
        assert sum(o is None for o in outcomes) == 1, outcomes
    assert svc.jobs.run("*").status == "SUCCEEDED"  # no definition refers to a missing one
    for _ in range(3):  # ten deletes of one definition: one is done, the others say it is gone
        target = svc.definitions.create(name="once", pql="age > 1")
        outcomes = _race(*[partial(svc.definitions.delete, target.id)] * 10)
        assert sum(o is None for o in outcomes) == 1
        assert all(isinstance(o, NotFoundError) for o in outcomes if o is not None)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Caf\u00e9", "Café"),  # NFC
        ("Cafe\u0301", "Café"),  # NFD: e + combining acute
        ("Caf\u00e9\u200b", "Café"),  # a zero-width space
        ("\uff23af\u00e9", "Café"),  # a fullwidth C
        ("nul\u0000name \u001b[31m", "nulname [31m"),  # control characters
        ("two\nlines\tand  spaces", "two lines and spaces"),
    ],
)
def test_names_are_stored_as_they_look(svc: SegmentationService, typed, stored):
    assert svc.definitions.create(name=typed, pql="age > 1").name == stored
    assert svc.definitions.get(stored).name == stored


def test_names_that_look_the_same_are_one_name(svc: SegmentationService):
    svc.definitions.create(name="Café", pql="age > 1")
    for twin in ("Cafe\u0301", "CAF\u00c9", "Caf\u00e9\u200b"):
        with pytest.raises(NameTakenError):
            svc.definitions.create(name=twin, pql="age > 2")


def test_a_name_cannot_be_an_id_and_ids_are_read_in_any_case(svc: SegmentationService):
    d = svc.definitions.create(name="Real", pql="age > 1")
    with pytest.raises(InvalidInputError, match="looks like an id"):
        svc.definitions.create(name=d.id.upper(), pql="age > 2")
    assert svc.definitions.get(d.id.upper()).id == d.id
    assert [x.name for x in svc.definitions.all()] == ["Real"]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"description": "x" * 10_001}, "10,001 characters long; at most 10,000"),
        ({"tags": ["t"] * 1 + [f"t{i}" for i in range(50)]}, "51 tags"),
        ({"tags": ["x" * 101]}, "longer than 100"),
        ({"tags": [5]}, "tag must be text"),
        ({"tags": "vip"}, "list"),
        ({"pql": 'name = "' + "x" * 1_000_000 + '"'}, "at most 1,000,000"),
        ({"pql": " or ".join(["age > 1"] * 700)}, "at most 2,000 can be evaluated"),
    ],
)
def test_oversized_parts_are_refused_and_nothing_is_stored(
    svc: SegmentationService, fields, fragment
):
    kept = svc.definitions.create(name="Kept", pql="age > 1", description="d", tags=["a"])
    with pytest.raises(InvalidInputError, match=fragment):
        svc.definitions.create(name="New", **{"pql": "age > 2", **fields})
    with pytest.raises(InvalidInputError, match=fragment):
        svc.definitions.update(kept.id, **fields)
    assert [d.name for d in svc.definitions.all()] == ["Kept"]
    assert svc.definitions.get(kept.id) == kept


def test_a_chain_too_deep_is_not_called_a_cycle(svc: SegmentationService):
    previous = svc.definitions.create(name="link 0", pql="age > 1")
    with pytest.raises(ConflictError, match="50 deep or more") as caught:
        for i in range(1, 60):
            previous = svc.definitions.create(
                name=f"link {i}", pql=f'inSegment("{previous.id}") and age > 1'
            )
    assert "cycle" not in str(caught.value)


def test_a_definition_a_job_is_evaluating_cannot_be_deleted(svc: SegmentationService):
    """The job would record it SUCCEEDED with no members once it had gone."""
    d = svc.definitions.create(name="Queued", pql="age > 30")
    release = threading.Event()
    busy = svc.tasks.submit(JOB_KIND, lambda ctx: release.wait(60))  # the job worker
    try:
        job = svc.jobs.start([d.id])
        with pytest.raises(ConflictError, match=f"segment job {job.id}, which is evaluating it"):
            svc.definitions.delete(d.id)
    finally:
        release.set()
    svc.tasks.wait(busy.id, timeout=60)
    svc.tasks.wait(job.id, timeout=60)
    assert svc.jobs.get(job.id).metrics.segmented_profile_counter[d.id] > 0
    svc.definitions.delete(d.id)  # once it has ended
    assert svc.definitions.find(d.id) is None
