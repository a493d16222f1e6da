"""Preview: exact totals, stable paging, chosen columns, bad paging requests."""

from __future__ import annotations

import pytest

from segmentation import SegmentationService
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
