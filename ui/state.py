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
