"""Data: load profiles and events from CSV or Parquet, read the report, browse the catalog."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from segmentation import SegmentationError
from segmentation.ingest import UPLOAD_MAX_BYTES
from ui.charts import top_values_chart
from ui.state import service, show_error
from ui.widgets import attempt, csv_download, header, lazy_csv_download

AUTO = "(detect automatically)"
REPORT_KEY = "data_last_report"
TABLE_ROW_CAP = 100_000

svc = service()
header(
    "Data",
    "Load profiles and events from CSV or Parquet, check what was rejected and why, "
    "and browse the fields every segment can use.",
)


def file_columns(upload) -> list[str]:
    """The header of a CSV or the schema of a Parquet upload, for the role pickers."""
    try:
        if upload.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(io.BytesIO(upload.getvalue())).names)
        first = upload.getvalue()[:64_000].decode("utf-8", errors="replace").splitlines()[0]
        dialect = csv.Sniffer().sniff(first, ",;\t|")
        return next(csv.reader([first], dialect))
    except Exception:  # the pickers fall back to automatic detection
        return []


def save_upload(upload) -> Path:
    """Write the upload to a private temp file, keeping its extension for format detection."""
    folder = Path(tempfile.mkdtemp(prefix="segment-upload-"))
    suffix = Path(upload.name).suffix.lower() or ".csv"
    path = folder / f"upload{suffix}"
    path.write_bytes(upload.getvalue())
    return path


def run_ingest(table: str, path: Path, mode: str, roles: dict[str, str], name: str) -> None:
    """Load the file, keep its report for the next run, and refresh the page."""
    overrides = {k: v for k, v in roles.items() if v and v != AUTO}
    with st.spinner(f"Loading {name} into {table} ..."):
        try:
            report = svc.ingest(
                table, path, mode=mode, original_name=name, max_bytes=UPLOAD_MAX_BYTES, **overrides
            )
        except SegmentationError as exc:
            st.session_state[REPORT_KEY] = {"error": exc.message, "file": name}
            return
        finally:
            path.unlink(missing_ok=True)
            path.parent.rmdir()
    st.session_state[REPORT_KEY] = {"report": report, "file": name}
    st.rerun()  # the sidebar counts change


def render_report(entry: dict) -> None:
    """The validation report of the last load (kept across the rerun)."""
    if "error" in entry:
        first, _, rest = entry["error"].partition("\n")
        st.error(f"{entry['file']}: {first}", icon=":material/error:")
        if rest.strip():
            st.code(rest, language=None)
        return
    report = entry["report"]
    if report.rows_rejected:
        st.warning(report.summary(), icon=":material/warning:")
    else:
        st.success(report.summary(), icon=":material/check_circle:")
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{report.rows_read:,}")
    cols[1].metric("Rows loaded", f"{report.rows_loaded:,}")
    cols[2].metric("Rows rejected", f"{report.rows_rejected:,}")
    cols[3].metric("Seconds", f"{report.elapsed_seconds:.2f}")
    for warning in report.warnings:
        st.warning(warning)
    if report.problems:
        shown = len(report.problems)
        st.markdown(f"**Problems** (the first {shown} of {report.rows_rejected:,} rejected rows)")
        problems = pd.DataFrame([p.model_dump() for p in report.problems])
        st.dataframe(
            problems,
            hide_index=True,
            column_config={
                "row": st.column_config.NumberColumn(
                    "Row", help="Data row in the file (1 = first)"
                ),
                "column": "Column",
                "value": "Value",
                "reason": "Reason",
                "detail": "Detail",
            },
        )
    if report.columns:
        with st.expander(f"Columns loaded into {report.table} ({len(report.columns)})"):
            st.dataframe(pd.DataFrame([c.model_dump() for c in report.columns]), hide_index=True)


def load_section() -> None:
    info = svc.info()
    if not info["profiles"]:
        st.info("No data yet — load the demo or upload a file below.", icon=":material/database:")
        if st.button("Load the demo data", type="primary", icon=":material/rocket_launch:"):
            from segmentation.demo import load_demo

            with st.spinner("Loading the demo ..."):
                message = attempt(load_demo, svc)
            if message:
                st.session_state[REPORT_KEY] = None
                st.toast(message)
                st.rerun()
    left, right = st.columns([2, 3])
    with left:
        table = st.radio("Load into", ["profiles", "events"], horizontal=True, key="data_table")
        mode = st.radio(
            "Mode",
            ["replace", "append"],
            horizontal=True,
            key="data_mode",
            help="Replace swaps the whole table; append adds rows (duplicate profile ids "
            "are rejected).",
        )
    with right:
        upload = st.file_uploader(
            "CSV or Parquet file", type=["csv", "tsv", "txt", "parquet"], key="data_upload"
        )
    roles: dict[str, str] = {}
    if upload is not None:
        columns = [AUTO, *file_columns(upload)]
        with st.expander("Column roles", expanded=True):
            st.caption(
                "Which column holds what. Left on automatic, the loader looks for "
                "profile_id / id, eventType and timestamp."
            )
            cols = st.columns(3)
            roles["id_column"] = cols[0].selectbox("Profile id", columns, key="data_id_col")
            if table == "events":
                roles["event_type_column"] = cols[1].selectbox(
                    "Event type", columns, key="data_type_col"
                )
                roles["timestamp_column"] = cols[2].selectbox(
                    "Timestamp", columns, key="data_ts_col"
                )
        verb = "Replace" if mode == "replace" else "Append to"
        if st.button(f"{verb} {table}", type="primary", icon=":material/upload:"):
            run_ingest(table, save_upload(upload), mode, roles, upload.name)
    entry = st.session_state.get(REPORT_KEY)
    if entry:
        st.subheader(f"Last load: {entry['file']}")
        render_report(entry)


def catalog_frame() -> pd.DataFrame:
    fields = svc.catalog()
    return pd.DataFrame(
        [
            {
                "field": f.name,
                "source": f.source,
                "type": f.type,
                "kind": f.kind,
                "null share": f.null_share,
                "distinct": f.distinct_count,
                "top values": ", ".join(f"{v} ({c:,})" for v, c in f.top_values[:5]),
            }
            for f in fields
        ]
    )


def catalog_section() -> None:
    try:
        fields = svc.catalog()
        frame = catalog_frame()
    except SegmentationError as exc:
        show_error(exc)
        return
    if frame.empty:
        st.info("No fields yet — load profiles or events first.")
        return
    sources = sorted(frame["source"].dropna().unique())
    chosen = st.segmented_control(
        "Source", sources, selection_mode="multi", default=sources, key="data_cat_source"
    )
    shown = frame[frame["source"].isin(chosen or sources)]
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "null share": st.column_config.ProgressColumn(
                "Null share", format="percent", min_value=0.0, max_value=1.0
            ),
            "distinct": st.column_config.NumberColumn("Distinct", format="localized"),
        },
    )
    csv_download(frame, "Download the catalog (CSV)", "catalog.csv", key="data_dl_catalog")
    # ids and other unique columns make a flat, useless chart: leave them out
    by_name = {
        f"{f.name} ({f.source})": f
        for f in fields
        if f.top_values and max(c for _, c in f.top_values) > 1
    }
    if by_name:
        pick = st.selectbox("Top values of", list(by_name), key="data_cat_field")
        field = by_name[pick]
        st.altair_chart(top_values_chart(field.top_values, field.name))
        if field.approximate:
            st.caption("Counts are approximate (computed from a sample).")


def downloads_section() -> None:
    info = svc.info()
    st.caption(
        f"CSV downloads hold up to {TABLE_ROW_CAP:,} rows each; for more, use the Exports "
        "page (segment members to CSV, Parquet or JSON) or the CLI."
    )
    for table in ("profiles", "events"):
        total = info[table]
        if not total:
            st.caption(f"No {table} loaded.")
            continue
        note = "" if total <= TABLE_ROW_CAP else f" (first {TABLE_ROW_CAP:,} of {total:,} rows)"
        lazy_csv_download(
            lambda table=table: svc.table_frame(table, limit=TABLE_ROW_CAP),
            f"Download {table}{note}",
            f"{table}.csv",
            key=f"data_dl_{table}",
        )


tab_load, tab_catalog, tab_download = st.tabs(["Load", "Field catalog", "Download"])
with tab_load:
    load_section()
with tab_catalog:
    catalog_section()
with tab_download:
    downloads_section()
