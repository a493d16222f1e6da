"""Data: load profiles and events from CSV or Parquet, read the report, browse the catalog."""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from segmentation import SegmentationError
from segmentation.ingest import UPLOAD_MAX_BYTES
from ui.cells import blank_missing
from ui.charts import top_values_chart
from ui.state import service, show_error
from ui.widgets import attempt, csv_download, header, lazy_csv_download
from ui.words import count

AUTO = "(detect automatically)"
REPORT_KEY = "data_last_report"
UPLOAD_KEY = "data_upload_path"  # (upload id, temp path) while it is previewed
UPLOADS_KEY = "data_uploads_done"  # loads so far: part of the uploader key
TYPES_KEY = "data_column_types"  # column -> kind[:format] the user chose
LABEL_FLASH = "data_label_flash"
CONFIRM_KEY = "data_replace_pending"  # (table, upload id) waiting for "Yes, replace"
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


def upload_path(upload) -> Path:
    """The upload written once to a private temp file (kept while it is previewed)."""
    kept = st.session_state.get(UPLOAD_KEY)
    if kept and kept[0] == upload.file_id and Path(kept[1]).exists():
        return Path(kept[1])
    path = save_upload(upload)
    st.session_state[UPLOAD_KEY] = (upload.file_id, str(path))
    return path


def load_options(roles: dict[str, str], types: dict[str, str]) -> dict:
    options: dict = {k: v for k, v in roles.items() if v and v != AUTO}
    if types:
        options["column_types"] = types
    return options


def run_ingest(table: str, path: Path, mode: str, options: dict, name: str) -> None:
    """Load the file, keep its report for the next run, and refresh the page."""
    with st.spinner(f"Loading {name} into {table} ..."):
        try:
            report = svc.ingest(
                table, path, mode=mode, original_name=name, max_bytes=UPLOAD_MAX_BYTES, **options
            )
        except SegmentationError as exc:
            st.session_state[REPORT_KEY] = {"error": exc.message, "file": name}
            return
        finally:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()
            st.session_state.pop(UPLOAD_KEY, None)
    st.session_state[REPORT_KEY] = {"report": report, "file": name}
    st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1
    st.session_state.pop(TYPES_KEY, None)
    st.rerun()  # the sidebar counts change


def problems_table(problems: list, counts: dict[str, int], rejected: int) -> None:
    """Every kind of problem of the file at once, the first rows of each, and their counts."""
    if counts:
        st.markdown(
            "**Problems:** "
            + "; ".join(f"{reason}: {count(n, 'row')}" for reason, n in sorted(counts.items()))
        )
    if problems:
        st.caption(f"The first {len(problems)} of {rejected:,} rejected rows:")
        st.dataframe(
            blank_missing(pd.DataFrame([p.model_dump() for p in problems])),
            hide_index=True,
            column_config={
                "row": st.column_config.NumberColumn(
                    "Row", help="Data row in the file (1 = first)", width=60
                ),
                "column": "Column",
                "value": "Value",
                "reason": "Reason",
                "detail": "Detail",
            },
        )


def rejected_download(path: str | None, name: str, key: str) -> None:
    if not path or not Path(path).exists():
        return
    st.download_button(
        "Download the rejected rows with their reasons (CSV)",
        data=Path(path).read_bytes(),
        file_name=f"{Path(name).stem}_rejected.csv",
        mime="text/csv",
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )


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
    problems_table(report.problems, report.problem_counts, report.rows_rejected)
    rejected_download(report.rejected_rows_file, entry["file"], "data_dl_rejected")
    if report.columns:
        with st.expander(f"Columns loaded into {report.table} ({len(report.columns)})"):
            st.dataframe(pd.DataFrame([c.model_dump() for c in report.columns]), hide_index=True)


def replace_with_confirmation(table: str, loaded: int, upload, path: Path, options: dict) -> None:
    """Replace deletes what is loaded: the button says how much, a second click confirms."""
    pending = st.session_state.get(CONFIRM_KEY) == (table, upload.file_id)
    if not pending:
        if st.button(f"Replace {table} …", type="primary", icon=":material/swap_horiz:"):
            st.session_state[CONFIRM_KEY] = (table, upload.file_id)
            st.rerun()
        return
    with st.container(border=True, key="data_replace_confirm"):
        st.warning(
            f"This replaces {loaded:,} {table} with the rows of {upload.name}. "
            f"The {loaded:,} {table} loaded now are deleted.",
            icon=":material/warning:",
        )
        yes, no = st.columns(2)
        if yes.button(f"Yes, replace {loaded:,} {table}", type="primary", key="data_replace_yes"):
            st.session_state.pop(CONFIRM_KEY, None)
            run_ingest(table, path, "replace", options, upload.name)
        if no.button("Cancel", key="data_replace_no"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()


KINDS = ["text", "number", "date", "timestamp", "boolean"]
DATE_FORMATS = ["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY"]


def _set_type(column: str) -> None:
    """A type chosen for a column (and its date format) goes into the load's options."""
    types = st.session_state[TYPES_KEY]
    kind = st.session_state[f"data_kind_{column}"]
    fmt = st.session_state.get(f"data_fmt_{column}")
    if kind == AUTO:
        types.pop(column, None)
    elif kind in ("date", "timestamp") and fmt and fmt != AUTO:
        types[column] = f"{kind}:{fmt}" if kind == "date" else f"timestamp:{fmt} HH:mm"
    else:
        types[column] = kind


def preview_section(preview, types: dict[str, str], name: str) -> None:
    """What the load would store: each column's type (changeable), the rows, every problem."""
    with st.container(border=True, key="data_preview"):
        st.markdown(f"**Before loading: {name} as the loader reads it**")
        cols = st.columns(3)
        cols[0].metric("Rows in the file", f"{preview.rows_read:,}")
        cols[1].metric("Would load", f"{preview.rows_to_load:,}")
        cols[2].metric("Would be rejected", f"{preview.rows_rejected:,}")
        st.caption(
            "Column types as detected; change one and the preview reads the file again. "
            "A value that does not fit its column rejects its row, not the file."
        )
        editable = [c for c in preview.columns if c.role is None]
        for start in range(0, len(editable), 4):
            row = st.columns(4)
            for col, column in zip(row, editable[start : start + 4], strict=False):
                with col:
                    type_picker(column, types)
        if preview.rows:
            st.dataframe(pd.DataFrame(preview.rows), hide_index=True, height=220)
        for warning in preview.warnings:
            st.warning(warning)
        problems_table(preview.problems, preview.problem_counts, preview.rows_rejected)
        rejected_download(preview.rejected_rows_file, name, "data_dl_preview_rejected")


def type_picker(column, types: dict[str, str]) -> None:
    detected = column.kind + (f" ({column.date_format})" if column.date_format else "")
    chosen = types.get(column.source, AUTO)
    kind_key, fmt_key = f"data_kind_{column.source}", f"data_fmt_{column.source}"
    st.session_state.setdefault(kind_key, chosen.split(":")[0] if chosen != AUTO else AUTO)
    kind = st.selectbox(
        column.source,
        [AUTO, *KINDS],
        key=kind_key,
        format_func=lambda k: f"{detected} (detected)" if k == AUTO else k,
        on_change=_set_type,
        args=(column.source,),
        help=f"Stored as {column.stored_type}" if column.stored_type else None,
    )
    if kind in ("date", "timestamp"):
        st.selectbox(
            "Date format",
            [AUTO, *DATE_FORMATS],
            key=fmt_key,
            format_func=lambda f: "detect" if f == AUTO else f,
            on_change=_set_type,
            args=(column.source,),
        )


def large_demo(loaded: int) -> None:
    """Sampled estimates need more than 250,000 profiles: offer the generated demo."""
    from segmentation.demo import (
        LARGE_DEMO_EVENTS_PER_PROFILE,
        LARGE_DEMO_PROFILES,
        load_large_demo,
    )

    if loaded >= LARGE_DEMO_PROFILES:
        return
    events = LARGE_DEMO_PROFILES * LARGE_DEMO_EVENTS_PER_PROFILE
    with st.expander("Large demo: see sampled estimates with intervals", icon=":material/science:"):
        st.caption(
            f"Generates {LARGE_DEMO_PROFILES:,} profiles and {events:,} events with the "
            "project's generator (about 20 s, once) and loads them (about 45 s). On more than "
            "250,000 profiles estimates are sampled and shown with a 95% interval. "
            f"It replaces the {loaded:,} profiles loaded now; saved segments stay."
        )
        if st.button(
            f"Generate and load {LARGE_DEMO_PROFILES:,} profiles",
            key="data_large_demo",
            icon=":material/rocket_launch:",
        ):
            with st.spinner("Generating and loading the large demo (about a minute) ..."):
                message = attempt(load_large_demo, svc)
            if message:
                st.session_state[REPORT_KEY] = None
                st.toast(message)
                st.rerun()


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
    else:
        large_demo(info["profiles"])
    left, right = st.columns([2, 3])
    with left:
        table = st.radio("Load into", ["profiles", "events"], horizontal=True, key="data_table")
        mode = st.radio(
            "Mode",
            ["append", "replace"],
            horizontal=True,
            key="data_mode",
            format_func={"append": "Add rows", "replace": "Replace the table"}.get,
            help="Add rows keeps what is loaded (a profile id already there is rejected); "
            "replace deletes the whole table first and asks before it does.",
        )
    with right:
        # a new key after each load empties the uploader: the loaded file is not offered again
        n = st.session_state.get(UPLOADS_KEY, 0)
        upload = st.file_uploader(
            "CSV or Parquet file",
            type=["csv", "tsv", "txt", "parquet"],
            key="data_upload" if n == 0 else f"data_upload_{n}",
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
        types = st.session_state.setdefault(TYPES_KEY, {})
        path = upload_path(upload)
        preview = attempt(svc.ingest_preview, table, path, mode=mode, **load_options(roles, types))
        if preview is not None:
            preview_section(preview, types, upload.name)
        options = load_options(roles, types)
        if mode == "append":
            if st.button(f"Add rows to {table}", type="primary", icon=":material/upload:"):
                run_ingest(table, path, mode, options, upload.name)
        else:
            replace_with_confirmation(table, info[table], upload, path, options)
    else:
        st.session_state.pop(TYPES_KEY, None)
    entry = st.session_state.get(REPORT_KEY)
    if entry:
        st.subheader(f"Last load: {entry['file']}")
        render_report(entry)


def catalog_frame() -> pd.DataFrame:
    fields = svc.catalog()
    labels = {(lbl.source, lbl.name): lbl for lbl in svc.field_labels()}
    return pd.DataFrame(
        [
            {
                "display name": labels[(f.source, f.name)].display_name,
                "field": f.name,
                "description": labels[(f.source, f.name)].description,
                "source": f.source,
                "kind": f.kind,
                "null share": f.null_share,
                "distinct": f.distinct_count,
                "top values": ", ".join(f"{v} ({c:,})" for v, c in f.top_values[:5]),
                "type": f.type,
            }
            for f in fields
        ]
    )


def _save_label(source: str, name: str) -> None:
    try:
        saved = svc.set_field_label(
            name,
            source=source,
            display_name=st.session_state.get("data_label_name", ""),
            description=st.session_state.get("data_label_desc", ""),
        )
    except SegmentationError as exc:
        st.session_state[LABEL_FLASH] = ("error", exc.message)
        return
    st.session_state[LABEL_FLASH] = (
        "success",
        f"`{name}` now shows as “{saved.display_name}”."
        if saved.custom
        else f"`{name}` is back to “{saved.display_name}”.",
    )


def label_editor() -> None:
    """Name a field the way the team says it; the column name stays what PQL uses."""
    labels = svc.field_labels()
    if not labels:
        return
    by_key = {f"{lbl.source}:{lbl.name}": lbl for lbl in labels}
    with st.expander(
        "Name a field", icon=":material/edit:", expanded=LABEL_FLASH in st.session_state
    ):
        pick = st.selectbox(
            "Field",
            list(by_key),
            format_func=lambda k: (
                f"{by_key[k].display_name} · {by_key[k].name} ({by_key[k].source})"
            ),
            key="data_label_field",
        )
        chosen = by_key[pick]
        if st.session_state.get("data_label_for") != pick:  # a new field: show its words
            st.session_state["data_label_for"] = pick
            st.session_state["data_label_name"] = chosen.display_name
            st.session_state["data_label_desc"] = chosen.description
        st.text_input(
            "Display name",
            key="data_label_name",
            max_chars=80,
            help="What the builder and the pages show. Leave empty for the default.",
        )
        st.text_area(
            "Description",
            key="data_label_desc",
            max_chars=500,
            height=68,
            help="Shown when hovering the field in the builder.",
        )
        st.button(
            "Save field name",
            key="data_label_save",
            icon=":material/save:",
            on_click=_save_label,
            args=(chosen.source, chosen.name),
        )
        flash = st.session_state.pop(LABEL_FLASH, None)
        if flash:
            (st.error if flash[0] == "error" else st.success)(flash[1])


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
    label_editor()
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
