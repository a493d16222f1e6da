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
from segmentation.tokens import DASHBOARD_AUTH_ENV


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
        svc = _open(workspace_path())
    except SegmentationError as exc:
        st.error(exc.message)
        st.stop()
        raise
    _require_token(svc)
    return svc


def _require_token(svc: SegmentationService) -> None:
    """Served beyond this machine, the dashboard asks for a read-write API token
    once per browser session (it can change everything a writer token can)."""
    if os.environ.get(DASHBOARD_AUTH_ENV) != "1" or st.session_state.get("_token_ok"):
        return
    st.title("Segment Studio")
    secret = st.text_input(
        "API token",
        type="password",
        key="_token_input",
        help="Make one with: segmentation token create --name NAME",
    )
    if secret:
        token = svc.tokens.verify(secret.strip())
        if token is not None and not token.read_only:
            st.session_state["_token_ok"] = True
            st.rerun()
        st.error("That token is not valid here (or it is read-only).")
    st.stop()


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


# --- the Builder's unsaved rule ----------------------------------------------------------
# Preview and Estimates evaluate saved segments; while the Builder holds an unsaved rule
# they say so (and offer that rule) instead of silently showing the saved one.
BUILDER_DRAFT_KEY = "builder_unsaved_rule"


def set_builder_draft(segment_id: str | None, name: str, pql: str | None) -> None:
    """The Builder's rule when it differs from the saved one (``pql`` None: it does not)."""
    if pql:
        st.session_state[BUILDER_DRAFT_KEY] = {"segment_id": segment_id, "name": name, "pql": pql}
    else:
        st.session_state.pop(BUILDER_DRAFT_KEY, None)


def builder_draft() -> dict | None:
    """``{"segment_id", "name", "pql"}`` of the Builder's unsaved rule, or None."""
    return st.session_state.get(BUILDER_DRAFT_KEY)
