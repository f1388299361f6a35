"""Typed conversion of raw columns (strings or numbers) with errors naming the file, field and line.

Conversions run in pyarrow; only when one fails is the column re-scanned with pandas to find the bad row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crossrec.errors import DataValidationError


def _where(source: Path | str, field: str, row: int, first_line: int | None) -> str:
    at = f"line {row + first_line}" if first_line is not None else f"row {row}"
    return f"{source}: field {field!r} {at}"


def _arrow_cast(values: pd.Series, to: pa.DataType) -> np.ndarray | None:
    """Cast with blanks as null; None when some value does not convert."""
    arr = pa.array(values, from_pandas=True)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    try:
        out = pc.cast(arr, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pa.types.is_integer(to) and out.null_count:
        return None
    return out.to_numpy(zero_copy_only=False)


def _first_bad(bad: pd.Series | np.ndarray) -> int:
    return int(np.flatnonzero(np.asarray(bad))[0])


def to_float(values: pd.Series, source: Path | str, field: str, first_line: int | None = None) -> np.ndarray:
    """(N,) float64; empty strings and nulls become NaN, anything else non-numeric is an error."""
    out = _arrow_cast(values, pa.float64())
    if out is not None:
        return out.astype(np.float64)
    num = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | (values.astype(str).str.strip() == "")
    row = _first_bad(num.isna() & ~blank)
    raise DataValidationError(f"{_where(source, field, row, first_line)}: not a number: {values.iloc[row]!r}")


def _dates_to_seconds(values: pd.Series) -> np.ndarray | None:
    dates = pd.to_datetime(values.astype(str).str.strip(), errors="coerce", utc=True)
    if dates.isna().any():
        return None
    return ((dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=np.int64)


def to_timestamp(values: pd.Series, source: Path | str, field: str, first_line: int | None = None) -> np.ndarray:
    """(N,) int64 timestamps from integers, floats (floored) or ISO dates (-> Unix seconds); blanks are errors."""
    exact = _arrow_cast(values, pa.int64())
    if exact is not None:
        return exact.astype(np.int64)
    floats = _arrow_cast(values, pa.float64())
    if floats is not None and np.isfinite(floats).all():
        return np.floor(floats).astype(np.int64)
    if not pd.api.types.is_numeric_dtype(values.dtype):
        seconds = _dates_to_seconds(values)
        if seconds is not None:
            return seconds
    num = pd.to_numeric(values, errors="coerce")
    row = _first_bad(num.isna() | ~np.isfinite(num.to_numpy(dtype=np.float64, na_value=np.nan)))
    raise DataValidationError(
        f"{_where(source, field, row, first_line)}: not a timestamp (integer or date): {values.iloc[row]!r}"
    )


def require_fields(columns: list[str], wanted: list[str], source: Path | str) -> None:
    missing = [w for w in wanted if w not in columns]
    if missing:
        raise DataValidationError(f"{source}: missing field {missing[0]!r} (has {', '.join(columns)})")


def check_non_empty_ids(values: pd.Series, source: Path | str, field: str, first_line: int | None = None) -> None:
    """Ids must be present: null or blank ids are errors."""
    arr = pa.array(values, from_pandas=True)
    blank = pc.is_null(arr)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        blank = pc.or_kleene(blank, pc.equal(pc.utf8_trim_whitespace(arr), ""))
    blank = blank.to_numpy(zero_copy_only=False)
    if blank.any():
        row = _first_bad(blank)
        raise DataValidationError(f"{_where(source, field, row, first_line)}: empty id")
