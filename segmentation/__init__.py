"""Segment Studio core: audience segmentation over DuckDB (never imports streamlit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segmentation.errors import SegmentationError

if TYPE_CHECKING:
    from segmentation.service import SegmentationService

__all__ = ["SegmentationError", "SegmentationService"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import segmentation` stays cheap for the CLI's --help.
    if name == "SegmentationService":
        from segmentation.service import SegmentationService

        return SegmentationService
    raise AttributeError(name)
