"""Importers on the hand-written fixtures of tests/fixtures/data."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.data.dataset import load_dataset, save_dataset
from crossrec.data.importers import (
    ImportOptions,
    TableLayout,
    import_amazon,
    import_grouplens,
    import_recbole,
    import_table,
)
from crossrec.errors import ConfigError

MOVIELENS = ImportOptions(domains="movielens_genre_groups")


def domains_of(ds) -> dict[str, str]:
    return dict(zip(ds.items["item_id"], ds.items["domain"], strict=True))


def test_recbole_ml1m_style(fixtures: Path) -> None:
    ds = import_recbole(fixtures / "recbole" / "tiny", MOVIELENS)
    assert ds.name == "tiny"
    assert ds.counts()["interactions"] == 8 and ds.counts()["users"] == 3
    assert "Unused (1990)" not in set(ds.items["item_id"])  # no interaction: dropped by default
    assert domains_of(ds) == {
        "Toy Story (1995)": "family", "Heat (1995)": "thriller", "Casino (1995)": "thriller",
        "Sabrina (1995)": "comedy", "GoldenEye (1995)": "thriller", "Babe (1995)": "family",
        '"Nixon" (1995)': "drama",
    }
    text = dict(zip(ds.items["item_id"], ds.items["text"], strict=True))
    assert text["Toy Story (1995)"] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert text['"Nixon" (1995)'] == '"Nixon" (1995). Genres: Drama'  # quotes are plain text in RecBole
    inter = ds.interactions
    assert inter["timestamp"].dtype == np.int64 and inter["rating"].dtype == np.float32
    assert inter["domain"].tolist() == ["family", "thriller", "family", "comedy", "drama", "thriller", "thriller",
                                        "family"]


def test_recbole_keeps_unused_items_on_request(fixtures: Path) -> None:
    opts = ImportOptions(domains="movielens_genre_groups", keep_unused_items=True)
    ds = import_recbole(fixtures / "recbole" / "tiny" / "tiny.inter", opts)
    assert domains_of(ds)["Unused (1990)"] == "drama"
    assert len(ds.items) == 8


def test_recbole_ml100k_style_token_seq_and_repeated_titles(fixtures: Path) -> None:
    ds = import_recbole(fixtures / "recbole" / "seq", MOVIELENS)
    assert ds.source["duplicate_item_rows_dropped"] == 1
    assert domains_of(ds) == {"Kolya (1996)": "comedy", "Shallow Grave (1994)": "thriller",
                              "Mystery Film (1997)": "drama"}  # "unknown" genre -> default domain
    assert ds.items.set_index("item_id").loc["Kolya (1996)", "text"] == "Kolya (1996). Genres: Comedy"
    assert np.isnan(ds.interactions["rating"].iloc[1])  # empty rating -> null


def test_recbole_custom_text_fields_and_no_mapping(fixtures: Path) -> None:
    ds = import_recbole(fixtures / "recbole" / "tiny", ImportOptions(text_fields=["item_id", "genre:Tags"]))
    assert ds.domains == ["all"]
    assert ds.items.set_index("item_id").loc["Heat (1995)", "text"] == "Heat (1995). Tags: Action, Crime, Thriller"


def test_grouplens_latin1(fixtures: Path) -> None:
    ds = import_grouplens(fixtures / "grouplens", MOVIELENS)
    assert ds.counts()["interactions"] == 5 and len(ds.items) == 4  # "Never Rated" dropped
    items = ds.items.set_index("item_id")
    assert items.loc["3", "title"] == "Cité des enfants perdus, La (1995)"
    assert items.loc["3", "domain"] == "action"
    assert items.loc["1", "text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert ds.interactions["user_id"].tolist()[:2] == ["1", "1"]


def test_amazon_category_is_domain(fixtures: Path, tmp_path: Path) -> None:
    src = tmp_path / "amazon"
    shutil.copytree(fixtures / "amazon", src)
    for path in src.glob("*Books.jsonl"):  # one category gzipped, as distributed
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    ds = import_amazon(src)
    assert ds.domains == ["All_Beauty", "Books"]
    assert domains_of(ds) == {"B01": "All_Beauty", "B02": "All_Beauty", "K01": "Books", "K02": "Books"}
    items = ds.items.set_index("item_id")
    assert items.loc["K01", "text"] == "The Tiny Book. Store: Ann Author (Author). Categories: Books, Fiction"
    assert items.loc["B01", "text"] == "Rose Face Cream. Store: Rosa"  # empty category list dropped
    assert ds.interactions["timestamp"].iloc[0] == 1588687728923


def test_table_csv_with_mapping_and_item_table(fixtures: Path) -> None:
    layout = TableLayout(columns={"user_id": "uid", "item_id": "iid", "timestamp": "when", "rating": "stars",
                                  "domain": "cat"}, items=fixtures / "table" / "items.csv", item_id_column="product")
    ds = import_table(fixtures / "table" / "interactions.csv", ImportOptions(text_fields=["title", "brand:Brand"]),
                      layout)
    assert domains_of(ds) == {"p1": "garden", "p2": "kitchen", "p3": "kitchen"}
    assert ds.items.set_index("item_id").loc["p1", "text"] == "Rake, steel. Brand: Acme"  # quoted CSV field
    assert ds.interactions["timestamp"].tolist()[0] == 1704103200  # ISO date -> Unix seconds
    assert np.isnan(ds.interactions["rating"].iloc[1])


def test_table_parquet_domain_column_on_items(tmp_path: Path) -> None:
    pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "timestamp": [3, 1, 2]}).to_parquet(
        tmp_path / "inter.parquet")
    pd.DataFrame({"item_id": ["x", "y"], "shelf": ["left", "right"], "title": ["Ex", "Why"]}).to_parquet(
        tmp_path / "items.parquet")
    ds = import_table(tmp_path / "inter.parquet", ImportOptions(domain_column="shelf"),
                      TableLayout(items=tmp_path / "items.parquet"))
    assert domains_of(ds) == {"x": "left", "y": "right"}
    assert ds.items.set_index("item_id").loc["y", "text"] == "Why"  # default text: the title column


def test_table_with_a_json_domain_mapping(tmp_path: Path) -> None:
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": [1, 2]}).to_csv(tmp_path / "i.csv", index=False)
    pd.DataFrame({"item_id": ["x", "y"], "tags": ["red|big", "blue"]}).to_csv(tmp_path / "items.csv", index=False)
    (tmp_path / "colours.json").write_text(
        '{"field": "tags", "separator": "|", "default": "other", "groups": {"warm": ["red"], "cool": ["blue"]}}')
    ds = import_table(tmp_path / "i.csv", ImportOptions(domains=tmp_path / "colours.json"),
                      TableLayout(items=tmp_path / "items.csv"))
    assert domains_of(ds) == {"x": "warm", "y": "cool"}


def test_imported_dataset_round_trips(fixtures: Path, tmp_path: Path) -> None:
    ds = import_amazon(fixtures / "amazon")
    back = load_dataset(save_dataset(ds, tmp_path / "out"))
    pd.testing.assert_frame_equal(back.interactions, ds.interactions)
    assert back.items["text"].tolist() == ds.items["text"].tolist()
    assert list(back.items["categories"].iloc[2]) == ["Books", "Fiction"]


def test_mapping_and_domain_column_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="not both"):
        ImportOptions(domains="movielens_genre_groups", domain_column="genre")
