"""The cached service and the evaluation settings every page shares."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import streamlit as st

from segmentation import SegmentationError, SegmentationService
from segmentation.sandboxes import PROD, serving
from segmentation.store import ENV_PATH, default_path


def workspace_path() -> str:
    """``streamlit run app.py -- --workspace PATH``, else $SEGMENTATION_WORKSPACE."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace", default=os.environ.get(ENV_PATH, default_path()))
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.workspace


@st.cache_resource(show_spinner="Opening the workspace ...")
def _open(path: str) -> SegmentationService:
    shared = serving()  # under `segmentation serve`: the API's own service
    if shared is not None and shared.path(PROD) == Path(path).resolve():
        return shared.service(PROD)
    svc = SegmentationService.open(path)
    svc.start_scheduler()
    return svc


def service() -> SegmentationService:
    try:
        return _open(workspace_path())
    except SegmentationError as exc:
        st.error(exc.message)
        st.stop()
        raise


def as_of() -> dt.datetime | None:
    """The chosen evaluation time (naive UTC), or None for now."""
    return st.session_state.get("as_of")


def show_error(exc: SegmentationError) -> None:
    st.error(exc.message, icon=":material/error:")


# --- the segment being worked on -------------------------------------------------------
# One key for every page, mirrored in the URL (`?segment=<id>`), so the segment the
# user saved in the Builder is the one Preview, Estimates, Jobs, Schedules and Exports
# open, and a copied link opens the same view. app.py syncs it on every run
# (Streamlit drops query parameters on a page switch).
SEGMENT_KEY = "current_segment"


def current_segment() -> str | None:
    return st.session_state.get(SEGMENT_KEY)


def set_current_segment(segment_id: str | None) -> None:
    st.session_state[SEGMENT_KEY] = segment_id
    if segment_id:
        st.query_params["segment"] = segment_id
    else:
        st.query_params.pop("segment", None)


def sync_segment_with_url(svc: SegmentationService) -> None:
    """A ``?segment=<id or name>`` link wins; else the session's segment goes back in the URL."""
    wanted = st.query_params.get("segment")
    if wanted:
        found = svc.definitions.find(wanted)
        if found is None:
            st.query_params.pop("segment", None)
            st.toast(f"No saved segment {wanted!r}.", icon=":material/warning:")
            return
        if found.id != current_segment() or wanted != found.id:
            set_current_segment(found.id)
        return
    current = current_segment()
    if current and svc.definitions.find(current) is None:  # deleted meanwhile
        set_current_segment(None)
    elif current:
        st.query_params["segment"] = current
