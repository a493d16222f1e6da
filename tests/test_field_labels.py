"""Field display names: derived defaults, stored edits, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation import SegmentationError, SegmentationService
from segmentation.field_labels import default_display_name


@pytest.mark.parametrize(
    ("column", "shown"),
    [
        ("loyaltyTier", "Loyalty tier"),
        ("loyalty_tier", "Loyalty tier"),
        ("country", "Country"),
        ("homeAddress.countryCode", "Home address › country code"),
        ("profile_id", "Profile ID"),
        ("LTVScore", "LTV score"),
        ("utm_source", "UTM source"),
        ("lifetimeValue", "Lifetime value"),
        ("x", "X"),
    ],
)
def test_default_display_name(column: str, shown: str) -> None:
    assert default_display_name(column) == shown


def _label(svc: SegmentationService, name: str, source: str = "profile"):
    return next(lbl for lbl in svc.field_labels() if lbl.name == name and lbl.source == source)


def test_every_catalog_field_has_a_label_derived_until_set(svc: SegmentationService) -> None:
    labels = svc.field_labels()
    assert [(lbl.source, lbl.name) for lbl in labels] == [(f.source, f.name) for f in svc.catalog()]
    tier = _label(svc, "loyaltyTier")
    assert (tier.display_name, tier.description, tier.custom) == ("Loyalty tier", "", False)


def test_set_label_is_stored_in_the_workspace_and_reset_by_empty(tmp_path: Path, frames) -> None:
    profiles, _ = frames
    profiles.to_csv(tmp_path / "p.csv", index=False)
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path)
    svc.ingest("profiles", tmp_path / "p.csv")
    svc.set_field_label("loyaltyTier", display_name="  Loyalty   level ", description="CRM tier")
    svc.close()
    svc = SegmentationService.open(path)  # a new process sees it
    try:
        tier = _label(svc, "loyaltyTier")
        assert (tier.display_name, tier.description, tier.custom) == (
            "Loyalty level",
            "CRM tier",
            True,
        )
        svc.set_field_label("loyaltyTier", display_name="", description="")
        assert _label(svc, "loyaltyTier").display_name == "Loyalty tier"
        assert not _label(svc, "loyaltyTier").custom
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("name", "display", "description", "says"),
    [
        ("noSuchField", "X", "", "no profile field 'noSuchField'"),
        ("country", "Loyalty tier", "", "already used by the profile field 'loyaltyTier'"),
        ("country", "c" * 81, "", "at most 80"),
        ("country", "Country", "d" * 501, "at most 500"),
    ],
)
def test_bad_labels_are_refused_and_nothing_changes(
    svc: SegmentationService, name: str, display: str, description: str, says: str
) -> None:
    before = svc.field_labels()
    with pytest.raises(SegmentationError, match=says):
        svc.set_field_label(name, display_name=display, description=description)
    assert svc.field_labels() == before


def test_two_defaults_that_read_the_same_show_their_column(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("profile_id,loyaltyTier,loyalty_tier\nA,gold,x\n")
    svc = SegmentationService.open(":memory:")
    try:
        svc.ingest("profiles", tmp_path / "p.csv")
        shown = {lbl.name: lbl.display_name for lbl in svc.field_labels()}
        assert shown["loyaltyTier"] == "Loyalty tier (loyaltyTier)"
        assert shown["loyalty_tier"] == "Loyalty tier (loyalty_tier)"
    finally:
        svc.close()
