"""Preview: exact totals, stable paging, chosen columns, bad paging requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from segmentation import SegmentationService, preview
from segmentation.errors import InvalidInputError
from tests.conftest import AS_OF


def test_pages_cover_every_member_once_in_order(svc: SegmentationService, frames):
    profiles, _ = frames
    expected = sorted(profiles[profiles["age"] > 50]["profile_id"])
    seen, offset = [], 0
    while offset is not None:
        page = svc.preview("age > 50", as_of=AS_OF, limit=37, offset=offset)
        assert page.total == len(expected)
        seen.extend(page.rows["profile_id"])
        offset = page.next_offset
    assert seen == expected


def test_chosen_columns_come_after_profile_id(svc: SegmentationService):
    page = svc.preview('country = "US"', limit=5, columns=["email", "country"])
    assert list(page.rows.columns) == ["profile_id", "email", "country"]
    assert set(page.rows["country"]) == {"US"}


def test_preview_takes_a_saved_definition_id(svc: SegmentationService):
    d = svc.definitions.create(name="US", pql='country = "US"')
    assert svc.preview(d.id).total == svc.preview('country = "US"').total


def test_empty_segment_has_no_pages(svc: SegmentationService):
    page = svc.preview('country = "Atlantis"')
    assert page.total == 0 and page.rows.empty and page.next_offset is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "page size"),
        ({"limit": 10**6}, "page size"),
        ({"offset": -1}, "offset"),
        ({"columns": ["nope"]}, "Unknown profile column"),
        ({"columns": ['x"; DROP TABLE profiles; --']}, "Unknown profile column"),
    ],
)
def test_bad_preview_requests(svc: SegmentationService, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        svc.preview("age > 1", **kwargs)
    assert svc.info()["profiles"] == 400


def test_a_new_load_is_seen_by_the_next_page(svc: SegmentationService, tmp_path, frames):
    profiles, _ = frames
    before = svc.preview("age > 50", as_of=AS_OF, limit=10)
    extra = profiles.head(3).assign(profile_id=["X1", "X2", "X3"], age=[90.0, 91.0, 92.0])
    extra.to_csv(tmp_path / "more.csv", index=False)
    svc.ingest("profiles", tmp_path / "more.csv", mode="append")
    after = svc.preview("age > 50", as_of=AS_OF, limit=10, offset=before.total)
    assert after.total == before.total + 3
    assert list(after.rows["profile_id"]) == ["X1", "X2", "X3"]


def test_many_segments_previewed_in_turn_stay_correct(svc: SegmentationService, frames):
    profiles, _ = frames
    for age in range(20, 80, 4):  # more segments than the cache keeps
        page = svc.preview(f"age > {age}", as_of=AS_OF, limit=5)
        assert page.total == int((profiles["age"] > age).sum())


@pytest.mark.parametrize(
    ("limit", "offsets"), [(5, [0, 14, 15, 16, 31]), (37, [0, 40]), (100, [3])]
)
def test_pages_that_cross_row_blocks_hold_the_same_rows(
    svc: SegmentationService, frames, monkeypatch, limit, offsets
):
    """Rows are fetched a block of numbers at a time (16 here): a page inside one block,
    across two, or across several shows exactly the members it numbers, with their values."""
    monkeypatch.setattr(preview, "BLOCK", 16)
    profiles, _ = frames
    members = profiles[profiles["age"] > 50].sort_values("profile_id").reset_index(drop=True)
    for offset in offsets:
        page = svc.preview("age > 50", as_of=AS_OF, limit=limit, offset=offset)
        expected = members.iloc[offset : offset + limit]
        assert page.rows["profile_id"].tolist() == expected["profile_id"].tolist()
        assert page.rows["email"].tolist() == expected["email"].tolist()
        assert page.rows["age"].tolist() == expected["age"].tolist()
    past = svc.preview("age > 50", as_of=AS_OF, limit=limit, offset=len(members) + 1)
    assert past.rows.empty and list(past.rows.columns) == list(profiles.columns)


def test_pages_read_by_many_threads_at_once_are_each_the_right_page(
    svc: SegmentationService, frames, monkeypatch
):
    """Eight readers page through more segments than the cache keeps, so that segments
    are evaluated, read and evicted at the same time: every page is still its own."""
    monkeypatch.setattr(preview, "BLOCK", 16)
    profiles, _ = frames
    ages = range(20, 80, 5)  # 12 segments, 8 kept
    work = [(age, offset) for age in ages for offset in range(0, 120, 20)] * 3

    def expected(age: int, offset: int) -> list[str]:
        return sorted(profiles[profiles["age"] > age]["profile_id"])[offset : offset + 20]

    def read(item: tuple[int, int]) -> list[str]:
        age, offset = item
        page = svc.preview(f"age > {age}", as_of=AS_OF, limit=20, offset=offset)
        return page.rows["profile_id"].tolist()

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(read, work))
    assert pages == [expected(age, offset) for age, offset in work]


def test_a_rendering_of_the_rows_is_made_once_per_block_and_sliced_per_page(
    svc: SegmentationService, monkeypatch
):
    """What a caller renders of each row (the API's JSON) is kept with the cache's blocks
    (16 rows here): paging through a segment renders each block once, and every page gets
    the items of its own rows, with every column or with chosen ones."""
    monkeypatch.setattr(preview, "BLOCK", 16)
    age_type = svc.schema().profile_columns["age"]
    sizes: list[int] = []

    def render(rows, types: dict[str, str]) -> list[str]:
        sizes.append(len(rows))
        return _items(rows, types["age"])

    offset = 0
    while offset is not None:
        page = svc.preview("age > 50", as_of=AS_OF, limit=5, offset=offset)
        assert page.rendered(render) == _items(page.rows, age_type)
        offset = page.next_offset
    assert sum(sizes) == page.total and len(sizes) == -(-page.total // 16)  # each block once
    chosen = svc.preview("age > 50", as_of=AS_OF, limit=5, offset=14, columns=["age"])
    assert list(chosen.rows.columns) == ["profile_id", "age"]
    assert chosen.rendered(render) == _items(chosen.rows, age_type)


def _items(rows, age_type: str) -> list[str]:
    return [f"{i}:{a}:{age_type}" for i, a in zip(rows["profile_id"], rows["age"], strict=True)]
