"""Canonical column schema and the checks that enforce it (pandas/pyarrow only).

Every check raises :class:`crossrec.errors.DataValidationError` with one line naming the file, the column and
the (0-based) row, e.g. ``data/x/items.parquet: column 'item_id' row 7: duplicate id 'B01' (first at row 2)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.errors import DataValidationError

INTERACTIONS_FILE = "interactions.parquet"
ITEMS_FILE = "items.parquet"
DATASET_FILE = "dataset.json"

# column -> kind ("string" | "int" | "float"); nullable columns are listed in NULLABLE.
INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "string", "item_id": "string", "domain": "string", "timestamp": "int", "rating": "float",
}
ITEM_COLUMNS: dict[str, str] = {"item_id": "string", "domain": "string", "text": "string"}
NULLABLE = frozenset({"rating"})
OPTIONAL = frozenset({"rating"})  # an interactions file without ratings gets an all-null column

INTERACTIONS_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()), ("domain", pa.string()),
    ("timestamp", pa.int64()), ("rating", pa.float32()),
])

_ARROW_TARGET = {"string": pa.string(), "int": pa.int64(), "float": pa.float32()}


def _kind_ok(kind: str, typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if kind == "string":
        return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)
    if kind == "int":
        return pa.types.is_integer(typ)
    return pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_null(typ)


def first_true(mask: np.ndarray | pd.Series) -> int:
    """Position of the first True of a boolean array (caller guarantees there is one)."""
    return int(np.flatnonzero(np.asarray(mask))[0])


def _invalid_utf8_row(column: pa.ChunkedArray) -> int | None:
    """Row of the first string that is not valid UTF-8 (Parquet does not guarantee it), or None."""
    start = 0
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid as err:
            found = re.search(r"string index (\d+)", str(err))
            return start + (int(found.group(1)) if found else 0)
        start += len(chunk)
    return None


def read_parquet_checked(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """Read a canonical Parquet file, checking readability, required columns, types, UTF-8 and null ids.

    Args:
        path: the Parquet file.
        columns: required column -> kind ("string" | "int" | "float"); other columns are kept as read.
    Returns:
        DataFrame with the required columns cast to str / int64 / float32 (float NaN = null).
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: empty file (0 bytes)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataValidationError(f"{path}: not a readable Parquet file (truncated or corrupt?): {first}") from None
    if table.num_rows == 0:
        raise DataValidationError(f"{path}: file has no rows")
    for name, kind in columns.items():
        if name not in table.column_names:
            if name in OPTIONAL:
                table = table.append_column(name, pa.nulls(table.num_rows, _ARROW_TARGET[kind]))
                continue
            raise DataValidationError(f"{path}: missing column {name!r} (has {', '.join(table.column_names)})")
        col = table.column(name)
        if not _kind_ok(kind, col.type):
            want = {"string": "string", "int": "an integer type (int64)", "float": "float32"}[kind]
            raise DataValidationError(f"{path}: column {name!r} has type {col.type}, expected {want}")
        if kind == "string":
            bad = _invalid_utf8_row(col)
            if bad is not None:
                raise DataValidationError(f"{path}: column {name!r} row {bad}: text is not valid UTF-8")
        if name not in NULLABLE and col.null_count:
            row = first_true(col.is_null().to_numpy(zero_copy_only=False))
            raise DataValidationError(f"{path}: column {name!r} row {row}: null value")
        table = table.set_column(table.column_names.index(name), name, col.cast(_ARROW_TARGET[kind]))
    return table.to_pandas()


def check_items(items: pd.DataFrame, source: str) -> None:
    """Item ids unique, domains and texts present. ``source`` names the file in messages."""
    for name in ITEM_COLUMNS:
        if name not in items.columns:
            raise DataValidationError(f"{source}: missing column {name!r} (has {', '.join(map(str, items.columns))})")
        if items[name].isna().any():
            raise DataValidationError(f"{source}: column {name!r} row {first_true(items[name].isna())}: null value")
    dup = items["item_id"].duplicated()
    if dup.any():
        row = first_true(dup)
        value = items["item_id"].iloc[row]
        first = first_true(items["item_id"] == value)
        raise DataValidationError(f"{source}: column 'item_id' row {row}: duplicate id {value!r} (first at row {first})")


def check_interactions(interactions: pd.DataFrame, items: pd.DataFrame, source: str, items_source: str) -> None:
    """Ids present, every item known, every interaction's domain equal to its item's domain."""
    for name in ("user_id", "item_id", "domain", "timestamp"):
        if name not in interactions.columns:
            raise DataValidationError(
                f"{source}: missing column {name!r} (has {', '.join(map(str, interactions.columns))})"
            )
        if interactions[name].isna().any():
            row = first_true(interactions[name].isna())
            raise DataValidationError(f"{source}: column {name!r} row {row}: null value")
    if len(interactions) == 0:
        raise DataValidationError(f"{source}: no interactions")
    pos = pd.Index(items["item_id"]).get_indexer(interactions["item_id"])
    if (pos < 0).any():
        row = first_true(pos < 0)
        raise DataValidationError(
            f"{source}: column 'item_id' row {row}: unknown item {interactions['item_id'].iloc[row]!r} "
            f"(not in {items_source})"
        )
    item_domain = items["domain"].to_numpy(dtype=object)[pos]
    wrong = item_domain != interactions["domain"].to_numpy(dtype=object)
    if wrong.any():
        row = first_true(wrong)
        raise DataValidationError(
            f"{source}: column 'domain' row {row}: {interactions['domain'].iloc[row]!r} differs from the domain "
            f"{item_domain[row]!r} of item {interactions['item_id'].iloc[row]!r} in {items_source}"
        )
