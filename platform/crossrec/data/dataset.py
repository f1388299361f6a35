"""The canonical multi-domain dataset: in-memory :class:`Dataset`, its directory format, load/save/build.

Directory layout (see docs/architecture.md)::

    interactions.parquet   user_id str, item_id str, domain str, timestamp int64, rating float32 (nullable)
    items.parquet          item_id str (unique), domain str, text str, extra columns kept
    dataset.json           {"name", "domains", "counts", "source"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.data.schema import (
    DATASET_FILE,
    INTERACTION_COLUMNS,
    INTERACTIONS_FILE,
    INTERACTIONS_SCHEMA,
    ITEM_COLUMNS,
    ITEMS_FILE,
    check_interactions,
    check_items,
    read_parquet_checked,
)
from crossrec.errors import DataValidationError
from crossrec.utils.io import atomic_directory, atomic_write_json

STRING = "str"  # pandas' default string dtype


@dataclass(eq=False)
class Dataset:
    """A validated multi-domain dataset.

    Attributes:
        name: dataset name.
        interactions: DataFrame (M rows) with the canonical interaction columns.
        items: DataFrame (N rows) with item_id (unique), domain, text and any extra columns.
        source: free-form provenance (importer, paths, options) written to dataset.json.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def domains(self) -> list[str]:
        """Sorted domain names (those that have items)."""
        return sorted(self.items["domain"].unique().tolist())

    def counts(self) -> dict[str, Any]:
        """Totals and per-domain counts of interactions, users and items (the ``counts`` of dataset.json)."""
        inter = self.interactions
        per_inter = inter.groupby("domain", observed=True).agg(
            interactions=("user_id", "size"), users=("user_id", "nunique")
        )
        per_items = self.items.groupby("domain", observed=True).size()
        per_domain = {
            d: {
                "interactions": int(per_inter["interactions"].get(d, 0)),
                "users": int(per_inter["users"].get(d, 0)),
                "items": int(per_items.get(d, 0)),
            }
            for d in self.domains
        }
        return {
            "interactions": len(inter),
            "users": int(inter["user_id"].nunique()),
            "items": len(self.items),
            "domains": len(per_domain),
            "per_domain": per_domain,
        }


def _normalise_interactions(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns and dtypes; rating becomes float32 with NaN for null."""
    out = pd.DataFrame({
        "user_id": df["user_id"].astype(STRING),
        "item_id": df["item_id"].astype(STRING),
        "domain": df["domain"].astype(STRING),
        "timestamp": df["timestamp"].astype(np.int64),
        "rating": (df["rating"] if "rating" in df else pd.Series(np.nan, index=df.index)).astype(np.float32),
    })
    return out.reset_index(drop=True)


def _normalise_items(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for name in ITEM_COLUMNS:
        out[name] = out[name].astype(STRING)
    extras = [c for c in out.columns if c not in ITEM_COLUMNS]
    return out[list(ITEM_COLUMNS) + extras].reset_index(drop=True)


def make_dataset(
    name: str,
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    source: dict[str, Any] | None = None,
    keep_unused_items: bool = False,
    where: tuple[str, str] = ("interactions", "items"),
) -> Dataset:
    """Build a validated :class:`Dataset` from importer/generator frames.

    Args:
        interactions: user_id, item_id, timestamp (+ rating); its ``domain`` is taken from the items.
        items: item_id, domain, text (+ extras).
        keep_unused_items: keep catalogue items that no interaction mentions (dropped by default).
        where: names of the two sources, used in error messages.
    """
    items = _normalise_items(items)
    check_items(items, where[1])
    pos = pd.Index(items["item_id"]).get_indexer(interactions["item_id"].astype(STRING))
    domain = np.where(pos >= 0, items["domain"].to_numpy(dtype=object)[pos], "")  # "": unknown item, reported below
    interactions = _normalise_interactions(interactions.assign(domain=domain))
    check_interactions(interactions, items, where[0], where[1])
    if not keep_unused_items:
        used = np.zeros(len(items), dtype=bool)
        used[pos] = True
        items = items[used].reset_index(drop=True)
    return Dataset(name=name, interactions=interactions, items=items, source=dict(source or {}))


def save_dataset(ds: Dataset, path: str | Path) -> Path | str:
    """Write ``ds`` as a canonical dataset directory, atomically (all files or none); to a URI (``s3://…``) it is
    written locally first and published with dataset.json last (:func:`crossrec.utils.storage.publish_dir`)."""
    from crossrec.utils.storage import is_uri, publish_dir

    if is_uri(path):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return publish_dir(save_dataset(ds, Path(tmp) / "dataset"), str(path), last=DATASET_FILE)
    path = Path(path)
    with atomic_directory(path) as tmp:
        table = pa.Table.from_pandas(ds.interactions[list(INTERACTION_COLUMNS)], schema=INTERACTIONS_SCHEMA,
                                     preserve_index=False)
        pq.write_table(table, tmp / INTERACTIONS_FILE)
        ds.items.to_parquet(tmp / ITEMS_FILE, index=False)
        meta = {"name": ds.name, "domains": ds.domains, "counts": ds.counts(), "source": ds.source}
        atomic_write_json(tmp / DATASET_FILE, meta)
    return path


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / DATASET_FILE
    if not meta_path.is_file():
        raise DataValidationError(f"{meta_path}: file not found")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataValidationError(f"{meta_path}: not valid JSON: {err}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise DataValidationError(f"{meta_path}: expected an object with a string 'name'")
    return meta


def load_dataset(path: str | Path) -> Dataset:
    """Load and validate a canonical dataset directory.

    Raises:
        DataValidationError: one line naming the file, column and row of the first problem found.
    """
    from crossrec.utils.storage import StorageError, is_uri, stage

    if is_uri(path):  # staged into the local cache once dataset.json (written last) is there
        try:
            path = stage(path, require=DATASET_FILE)
        except StorageError as err:
            raise DataValidationError(str(err)) from None
    path = Path(path)
    if not path.is_dir():
        raise DataValidationError(f"{path}: dataset directory not found")
    meta = _read_meta(path)
    items = read_parquet_checked(path / ITEMS_FILE, ITEM_COLUMNS)
    check_items(items, str(path / ITEMS_FILE))
    interactions = read_parquet_checked(path / INTERACTIONS_FILE, INTERACTION_COLUMNS)
    check_interactions(interactions, items, str(path / INTERACTIONS_FILE), str(path / ITEMS_FILE))
    ds = Dataset(name=meta["name"], interactions=_normalise_interactions(interactions), items=_normalise_items(items),
                 source=meta.get("source") or {})
    recorded = meta.get("domains")
    if recorded is not None and sorted(recorded) != ds.domains:
        raise DataValidationError(
            f"{path / DATASET_FILE}: domains {sorted(recorded)} do not match those of {ITEMS_FILE} {ds.domains}"
        )
    return ds
