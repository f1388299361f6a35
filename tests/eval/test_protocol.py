"""History batches, score columns and exclusion masks built from a split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossrec.data.dataset import make_dataset
from crossrec.data.split import split_target
from crossrec.eval.protocol import HistoryBatch, make_history_batch, target_columns, visible_target_mask


def _split():
    items = pd.DataFrame({"item_id": ["s1", "s2", "t1", "t2", "t3"], "domain": ["S", "S", "T", "T", "T"],
                          "text": [""] * 5})
    interactions = pd.DataFrame([
        ("a", "s1", 1), ("a", "t1", 2), ("a", "s2", 3), ("a", "t2", 4), ("a", "t3", 5),
        ("b", "t3", 9),
    ], columns=["user_id", "item_id", "timestamp"])
    return split_target(make_dataset("p", interactions, items), "T")  # indices: s1=1 s2=2 t1=3 t2=4 t3=5


def test_history_batch_is_left_padded_and_truncated() -> None:
    split = _split()
    test = split.role("test")  # a: t3 with 4 visible items; b: t3 with none
    batch = make_history_batch(split, test, max_len=3)
    assert batch.items.tolist() == [[3, 2, 4], [0, 0, 0]]  # last 3 of s1 t1 s2 t2
    assert batch.domains.tolist() == [[2, 1, 2], [0, 0, 0]]
    assert batch.lengths.tolist() == [3, 0] and batch.user_ids.tolist() == ["a", "b"]
    full = make_history_batch(split, test)
    assert full.items.tolist() == [[1, 3, 2, 4], [0, 0, 0, 0]]
    assert full.items.dtype == np.int64 and full.domains.dtype == np.int64
    valid = make_history_batch(split, split.role("valid"), max_len=5)
    assert valid.items.tolist() == [[0, 0, 1, 3, 2]] and valid.lengths.tolist() == [3]  # a's t2 sees s1 t1 s2


def test_lengths_default_to_the_non_padding_count() -> None:
    batch = HistoryBatch(items=np.array([[0, 4, 2], [0, 0, 0]]), domains=np.zeros((2, 3), dtype=np.int64),
                         user_ids=np.array(["a", "b"], dtype=object))
    assert batch.lengths.tolist() == [2, 0] and len(batch) == 2


def test_target_columns_and_visible_mask() -> None:
    split = _split()
    assert split.target_items.tolist() == [3, 4, 5]
    assert target_columns(split, np.array([5, 3, 1])).tolist() == [2, 0, -1]
    mask = visible_target_mask(split, split.role("test"))
    assert mask.tolist() == [[True, True, False], [False, False, False]]
