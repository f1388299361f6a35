"""RecBole atomic files: ``<name>.inter`` and (optional) ``<name>.item``, tab-separated, ``field:type`` headers.

Types: ``token`` (string), ``float``, ``token_seq`` (space-separated list), ``float_seq``. The MovieLens dumps
use titles as item ids and declare the genre list as ``genre:token`` (ml-1m) or ``class:token_seq`` (ml-100k);
both become lists. An item file that repeats an item id keeps its first row (ml-100k has a few repeated
titles); the number dropped is recorded in ``dataset.json``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crossrec.data.dataset import Dataset
from crossrec.data.importers.assemble import ImportOptions, assemble, first_present
from crossrec.data.importers.columns import check_non_empty_ids, require_fields, to_float, to_timestamp
from crossrec.data.importers.readers import open_bytes, read_delimited
from crossrec.errors import DataValidationError

LIST_TYPES = ("token_seq", "float_seq")
# token fields that hold a space-separated list in common dumps (MovieLens declares genre:token)
LIST_FIELDS = ("genre", "genres", "class", "categories")
HEADER_LINES = 1


def locate_files(src: Path) -> tuple[Path, Path | None]:
    """``src`` is a RecBole dataset directory (holding ``<dir>.inter``) or an ``.inter`` file."""
    src = Path(src)
    inter = src / f"{src.name}.inter" if src.is_dir() else src
    if src.is_dir() and not inter.is_file():
        found = sorted(src.glob("*.inter"))
        if len(found) != 1:
            raise DataValidationError(f"{src}: expected one RecBole .inter file, found {len(found)}")
        inter = found[0]
    if inter.suffix != ".inter" or not inter.is_file():
        raise DataValidationError(f"{src}: not a RecBole dataset (no .inter file)")
    item = inter.with_suffix(".item")
    return inter, item if item.is_file() else None


def read_atomic(path: Path) -> pd.DataFrame:
    """One atomic file as a DataFrame with plain field names; lists for ``*_seq`` and :data:`LIST_FIELDS`."""
    table = read_delimited(open_bytes(path), path, "\t")
    frame = table.to_pandas()
    renamed, kinds = {}, {}
    for header in frame.columns:
        name, sep, kind = header.partition(":")
        if not sep or not name or kind not in ("token", "float", *LIST_TYPES):
            raise DataValidationError(f"{path}: line 1: header {header!r} is not 'field:type' (token, float, token_seq, float_seq)")
        renamed[header], kinds[name] = name, kind
    frame = frame.rename(columns=renamed)
    for name, kind in kinds.items():
        if kind == "float":
            frame[name] = to_float(frame[name], path, name, HEADER_LINES + 1)
        elif kind in LIST_TYPES or name in LIST_FIELDS:
            frame[name] = frame[name].str.split()
    return frame


def default_text_fields(columns: list[str]) -> list[str]:
    """Title (or the item id), year in parentheses, and the genre-like list labelled 'Genres'."""
    spec = [first_present(columns, ["movie_title", "title"]) or "item_id"]
    year = first_present(columns, ["release_year", "year"])
    genres = first_present(columns, list(LIST_FIELDS))
    if year:
        spec.append(f"({year})")
    if genres:
        spec.append(f"{genres}:Genres")
    return spec


def import_recbole(src: Path, opts: ImportOptions | None = None) -> Dataset:
    """Import a RecBole atomic dataset (see module docstring)."""
    opts = opts or ImportOptions()
    inter_path, item_path = locate_files(src)
    inter = read_atomic(inter_path)
    require_fields(list(inter.columns), ["user_id", "item_id", "timestamp"], inter_path)
    for name in ("user_id", "item_id"):
        check_non_empty_ids(inter[name], inter_path, name, HEADER_LINES + 1)
    interactions = pd.DataFrame({
        "user_id": inter["user_id"], "item_id": inter["item_id"],
        "timestamp": to_timestamp(inter["timestamp"], inter_path, "timestamp", HEADER_LINES + 1),
        "rating": inter["rating"] if "rating" in inter else float("nan"),
    })
    if item_path is not None:
        items = read_atomic(item_path)
        require_fields(list(items.columns), ["item_id"], item_path)
        check_non_empty_ids(items["item_id"], item_path, "item_id", HEADER_LINES + 1)
    else:
        items = pd.DataFrame({"item_id": interactions["item_id"].unique()})
    duplicated = items["item_id"].duplicated()
    items = items[~duplicated].reset_index(drop=True)
    source = {"format": "recbole", "path": str(Path(src)), "duplicate_item_rows_dropped": int(duplicated.sum())}
    return assemble(interactions, items, opts, inter_path.stem, default_text_fields(list(items.columns)), source,
                    (str(inter_path), str(item_path or inter_path)))
