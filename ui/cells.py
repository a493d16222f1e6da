"""Profile values as a person reads them in a table or a CSV: nested values (lists of
structs, maps) as compact JSON with real numbers.

Streamlit shows a list of structs holding a DECIMAL by its unscaled digits (6.0 of a
``DECIMAL(21,1)`` as "60"), and pandas writes such a cell to CSV as numpy's repr
(``[{'price': Decimal('6.0')}]``); both mislead. Lists of plain values stay lists, so
the grid keeps showing them as chips.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd


def plain(value: Any) -> Any:
    """``value`` with numpy arrays as lists, decimals as numbers, times as ISO text."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.isoformat()
    return value


def _nested(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    )


def _cell(value: Any) -> Any:
    value = plain(value)
    return json.dumps(value, ensure_ascii=False) if _nested(value) else value


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose nested cells are JSON text (the rest as they are)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_cell)
    return out


def cell_text(value: Any) -> str:
    """One value as text: nested ones as JSON, a list of plain values comma-separated."""
    value = plain(value)
    if value is None:
        return ""
    if _nested(value):
        return json.dumps(value, ensure_ascii=False)
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _number_text(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{value:,.12g}"


def blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for a table on a page: a missing value is an empty cell.

    The grid writes a missing value as "None"; a marketer reads that as a value. A
    number column with gaps becomes text ("1,234.5"), as a grid cell cannot be both a
    number and blank.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not values.isna().any():
            continue
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[column] = values.map(_number_text)
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.map(lambda v: "" if pd.isna(v) else v.isoformat(sep=" "))
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            out[column] = values.map(lambda v: "" if _missing(v) else v)
    return out


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is a value
        return False
