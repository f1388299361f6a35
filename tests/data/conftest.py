"""Shared fixtures of the data tests: the hand-written raw files and a tiny valid canonical dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crossrec.data.dataset import Dataset, make_dataset, save_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def tiny_dataset() -> Dataset:
    """3 users, 5 items in domains "books" and "music"."""
    items = pd.DataFrame({
        "item_id": ["b1", "b2", "b3", "m1", "m2"],
        "domain": ["books", "books", "books", "music", "music"],
        "text": ["Book one", "Book two", "Book three", "Song one", "Song two"],
        "year": [2001, 2002, 2003, 1999, 1998],
    })
    interactions = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3"],
        "item_id": ["b1", "m1", "b2", "m2", "b3", "m1"],
        "timestamp": [10, 20, 30, 5, 6, 7],
        "rating": [5.0, None, 3.0, 4.0, 1.0, 2.0],
    })
    return make_dataset("tiny", interactions, items)


@pytest.fixture
def tiny() -> Dataset:
    return tiny_dataset()


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return save_dataset(tiny_dataset(), tmp_path / "tiny")
