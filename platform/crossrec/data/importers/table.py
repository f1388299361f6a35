"""Generic interaction table (CSV, TSV or Parquet) with a column mapping, plus an optional item table.

The interaction table needs user, item and timestamp columns (timestamps may be integers, floats or dates)
and may have rating and domain columns. The domain comes from, in order: a domain mapping over an item
column, ``--domain-column`` (an item column), a ``domain`` interaction column (each item must then have one
domain), or the default domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.data.dataset import Dataset
from crossrec.data.importers.assemble import ImportOptions, assemble, first_present
from crossrec.data.importers.columns import check_non_empty_ids, require_fields, to_float, to_timestamp
from crossrec.data.importers.readers import open_bytes, read_delimited
from crossrec.errors import ConfigError, DataValidationError

INTERACTION_FIELDS = ("user_id", "item_id", "timestamp", "rating", "domain")
DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


@dataclass
class TableLayout:
    """Where the canonical fields are in the source tables.

    Attributes:
        columns: canonical interaction field (user_id, item_id, timestamp, rating, domain) -> source column;
            unmapped fields are looked up under their canonical name.
        items: optional item table (CSV/TSV/Parquet); its other columns are kept and usable as text fields.
        item_id_column: the item table's id column.
    """

    columns: dict[str, str] = field(default_factory=dict)
    items: Path | None = None
    item_id_column: str = "item_id"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(INTERACTION_FIELDS))
        if unknown:
            raise ConfigError(f"--columns: unknown field {unknown[0]!r} (expected {', '.join(INTERACTION_FIELDS)})")


def read_table(path: Path) -> pd.DataFrame:
    """A CSV/TSV (all columns as strings) or Parquet file as a DataFrame (first row = header for text)."""
    path = Path(path)
    if path.suffix in (".parquet", ".pq"):
        open_bytes(path)  # not found / empty
        try:
            return pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as err:
            raise DataValidationError(f"{path}: not a readable Parquet file: {str(err).splitlines()[0]}") from None
    if path.suffix not in DELIMITERS:
        raise DataValidationError(f"{path}: unsupported table type {path.suffix!r} (use .csv, .tsv or .parquet)")
    return read_delimited(open_bytes(path), path, DELIMITERS[path.suffix], quoted=path.suffix == ".csv").to_pandas()


def _item_domains_from_interactions(inter: pd.DataFrame, column: str, source: Path) -> pd.DataFrame:
    pairs = inter[["item_id", column]].drop_duplicates()
    repeated = pairs["item_id"].duplicated(keep=False)
    if repeated.any():
        item = pairs["item_id"][repeated].iloc[0]
        found = sorted(pairs.loc[pairs["item_id"] == item, column].astype(str))
        raise DataValidationError(f"{source}: field {column!r}: item {item!r} has several domains {found}")
    return pairs.rename(columns={column: "domain"})


def import_table(src: Path, opts: ImportOptions | None = None, layout: TableLayout | None = None) -> Dataset:
    """Import a generic interaction table (see module docstring)."""
    opts, layout = opts or ImportOptions(), layout or TableLayout()
    src = Path(src)
    raw = read_table(src)
    col = {f: layout.columns.get(f, f) for f in INTERACTION_FIELDS}
    require_fields(list(map(str, raw.columns)), [col["user_id"], col["item_id"], col["timestamp"]], src)
    first_line = 2 if src.suffix in DELIMITERS else None
    for name in ("user_id", "item_id"):
        check_non_empty_ids(raw[col[name]], src, col[name], first_line)
    interactions = pd.DataFrame({
        "user_id": raw[col["user_id"]].astype(str), "item_id": raw[col["item_id"]].astype(str),
        "timestamp": to_timestamp(raw[col["timestamp"]], src, col["timestamp"], first_line),
        "rating": to_float(raw[col["rating"]], src, col["rating"], first_line) if col["rating"] in raw else float("nan"),
    })
    if layout.items is not None:
        items = read_table(layout.items)
        require_fields(list(map(str, items.columns)), [layout.item_id_column], layout.items)
        check_non_empty_ids(items[layout.item_id_column], layout.items, layout.item_id_column)
        items = items.rename(columns={layout.item_id_column: "item_id"})
        items["item_id"] = items["item_id"].astype(str)
    else:
        items = pd.DataFrame({"item_id": interactions["item_id"].unique()})
    domain_col = col["domain"]
    if opts.domains is None and opts.domain_column is None and domain_col in raw and "domain" not in items:
        per_item = _item_domains_from_interactions(interactions.assign(**{domain_col: raw[domain_col]}), domain_col, src)
        items = items.merge(per_item, on="item_id", how="left")
        items["domain"] = items["domain"].fillna(opts.default_domain)
    default_text = [first_present(list(map(str, items.columns)), ["title", "name"]) or "item_id"]
    source = {"format": "table", "path": str(src), "items": str(layout.items) if layout.items else None,
              "columns": col}
    return assemble(interactions, items, opts, src.stem, default_text, source,
                    (str(src), str(layout.items or src)))
