"""Amazon Reviews 2023 (McAuley lab) JSON lines: per category ``<Category>.jsonl`` (reviews) and
``meta_<Category>.jsonl`` (item metadata), optionally gzipped. The category of each file pair is the domain.

Items are ``parent_asin``; reviews give ``user_id``, ``parent_asin``, ``timestamp`` (ms, kept as is) and
``rating``. An item listed in several categories keeps its first category (sorted by name). Reviews of an
item missing from every metadata file are an error (unknown item).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from crossrec.data.dataset import Dataset
from crossrec.data.importers.assemble import ImportOptions, assemble
from crossrec.data.importers.columns import check_non_empty_ids
from crossrec.data.importers.readers import open_bytes, read_jsonl
from crossrec.errors import DataValidationError

REVIEW_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("parent_asin", pa.string()), ("timestamp", pa.int64()), ("rating", pa.float64()),
])
META_SCHEMA = pa.schema([
    ("parent_asin", pa.string()), ("title", pa.string()), ("main_category", pa.string()), ("store", pa.string()),
    ("categories", pa.list_(pa.string())), ("features", pa.list_(pa.string())),
    ("average_rating", pa.float64()), ("rating_number", pa.int64()),
])
DEFAULT_TEXT = ["title", "store:Store", "categories:Categories"]


def _category(path: Path) -> str:
    return path.name.split(".jsonl")[0]


def find_categories(src: Path) -> dict[str, tuple[Path, Path]]:
    """category -> (reviews file, metadata file) for every review file with a metadata sibling."""
    src = Path(src)
    if not src.is_dir():
        raise DataValidationError(f"{src}: expected a directory of <Category>.jsonl + meta_<Category>.jsonl files")
    metas = {_category(p)[len("meta_"):]: p for p in src.glob("meta_*.jsonl*")}
    pairs = {_category(p): (p, metas[_category(p)]) for p in src.glob("*.jsonl*")
             if not p.name.startswith("meta_") and _category(p) in metas}
    if not pairs:
        raise DataValidationError(f"{src}: no <Category>.jsonl file with a matching meta_<Category>.jsonl")
    return dict(sorted(pairs.items()))


def _read(path: Path, schema: pa.Schema, ids: list[str]) -> pd.DataFrame:
    frame = read_jsonl(open_bytes(path), path, schema).to_pandas()
    for name in ids:
        check_non_empty_ids(frame[name], path, name, 1)
    return frame


def import_amazon(src: Path, opts: ImportOptions | None = None) -> Dataset:
    """Import every category pair under ``src`` (see module docstring)."""
    opts = opts or ImportOptions()
    pairs = find_categories(src)
    reviews, metas = [], []
    for category, (review_path, meta_path) in pairs.items():
        reviews.append(_read(review_path, REVIEW_SCHEMA, ["user_id", "parent_asin", "timestamp"]))
        metas.append(_read(meta_path, META_SCHEMA, ["parent_asin"]).assign(domain=category))
    known = pd.Index(pd.concat([m["parent_asin"] for m in metas], ignore_index=True).unique())
    for (review_path, _), frame in zip(pairs.values(), reviews, strict=True):
        unknown = known.get_indexer(frame["parent_asin"]) < 0
        if unknown.any():
            row = int(unknown.nonzero()[0][0])
            raise DataValidationError(f"{review_path}: line {row + 1}: item {frame['parent_asin'].iloc[row]!r} "
                                      "is in no meta_<Category>.jsonl file")
    inter = pd.concat(reviews, ignore_index=True)
    interactions = pd.DataFrame({"user_id": inter["user_id"], "item_id": inter["parent_asin"],
                                 "timestamp": inter["timestamp"], "rating": inter["rating"]})
    items = pd.concat(metas, ignore_index=True).rename(columns={"parent_asin": "item_id"})
    repeated = items["item_id"].duplicated()
    items = items[~repeated].reset_index(drop=True)
    source = {"format": "amazon", "path": str(src), "categories": list(pairs),
              "items_in_several_categories": int(repeated.sum())}
    names = (f"{src} (reviews)", f"{src} (meta files)")
    return assemble(interactions, items, opts, Path(src).name, DEFAULT_TEXT, source, names)
