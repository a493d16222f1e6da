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
