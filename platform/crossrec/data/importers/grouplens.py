"""GroupLens raw MovieLens (ml-1m style): ``ratings.dat`` (UserID::MovieID::Rating::Timestamp) and
``movies.dat`` (MovieID::Title::Genres with ``|``-separated genres), ``::``-separated, latin-1 encoded.

Item ids are the MovieIDs; item columns: ``title``, ``genres`` (list). Default text ``Title (Year). Genres: ...``
(GroupLens titles already end with the year).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crossrec.data.dataset import Dataset
from crossrec.data.importers.assemble import ImportOptions, assemble
from crossrec.data.importers.columns import check_non_empty_ids, to_float, to_timestamp
from crossrec.data.importers.readers import open_bytes, read_delimited
from crossrec.errors import DataValidationError

RATINGS = ["user_id", "item_id", "rating", "timestamp"]
MOVIES = ["item_id", "title", "genres"]
DEFAULT_TEXT = ["title", "genres:Genres"]


def read_dat(path: Path, names: list[str]) -> pd.DataFrame:
    """A ``::``-separated latin-1 file as a DataFrame of strings (``::`` becomes a tab before parsing)."""
    text = open_bytes(path).decode("latin-1")
    if "\t" in text:
        line = text[: text.index("\t")].count("\n") + 1
        raise DataValidationError(f"{path}: line {line}: unexpected tab character in a '::'-separated file")
    return read_delimited(text.replace("::", "\t").encode("utf-8"), path, "\t", column_names=names).to_pandas()


def import_grouplens(src: Path, opts: ImportOptions | None = None) -> Dataset:
    """Import a GroupLens MovieLens directory holding ``ratings.dat`` and ``movies.dat``."""
    opts = opts or ImportOptions()
    src = Path(src)
    ratings_path, movies_path = src / "ratings.dat", src / "movies.dat"
    ratings = read_dat(ratings_path, RATINGS)
    for name in ("user_id", "item_id"):
        check_non_empty_ids(ratings[name], ratings_path, name, 1)
    interactions = pd.DataFrame({
        "user_id": ratings["user_id"], "item_id": ratings["item_id"],
        "timestamp": to_timestamp(ratings["timestamp"], ratings_path, "timestamp", 1),
        "rating": to_float(ratings["rating"], ratings_path, "rating", 1),
    })
    movies = read_dat(movies_path, MOVIES)
    check_non_empty_ids(movies["item_id"], movies_path, "item_id", 1)
    movies["genres"] = movies["genres"].str.split("|")
    source = {"format": "grouplens", "path": str(src)}
    return assemble(interactions, movies, opts, src.name, DEFAULT_TEXT, source, (str(ratings_path), str(movies_path)))
