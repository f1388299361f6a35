"""The new-item slice and the catalogue exposure of new items, on a hand-checked split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossrec.data.dataset import make_dataset
from crossrec.data.split import split_target
from crossrec.eval.metrics import TopKExposure, rank_of_true, top_columns
from crossrec.eval.runner import evaluate


class FixedScores:
    """Scores every history with the same vector over the catalogue (t1 > t2 > t4 > t3)."""

    name = "fixed"

    def fit(self, split) -> None:
        return None

    def score(self, batch) -> np.ndarray:
        return np.tile([4.0, 3.0, 1.0, 2.0], (len(batch), 1))


def hand_split():
    # a: t1 t2 | valid t3, test t4 -> trains on t1, t2;  b: s1 t1 | test t3 -> trains on s1, t1;
    # c: t2 | test t1 -> trains on t2.  Trained: t1 (2), t2 (2); new: t3, t4 (only in held-out examples).
    rows = [("a", "t1", 1), ("a", "t2", 2), ("a", "t3", 3), ("a", "t4", 4),
            ("b", "s1", 1), ("b", "t1", 2), ("b", "t3", 3),
            ("c", "t2", 1), ("c", "t1", 2)]
    items = {"t1": "T", "t2": "T", "t3": "T", "t4": "T", "s1": "S"}
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({"item_id": list(items), "domain": list(items.values()), "text": list(items)})
    return split_target(make_dataset("h", interactions, catalogue, keep_unused_items=True), "T")


def test_new_item_slice_and_exposure_by_hand() -> None:
    split = hand_split()
    report = evaluate(FixedScores(), split, role="test", progress=False)
    m = report.metrics
    # a -> t4 (t1, t2, t3 seen: rank 0), b -> t3 (t1 seen; t2, t4 ahead: rank 2), c -> t1 (rank 0)
    assert (m["new_items"]["n_users"], m["old_items"]["n_users"]) == (2, 1)
    assert m["new_items"]["ndcg@10"] == pytest.approx((1.0 + 1.0 / np.log2(4.0)) / 2)
    assert m["new_items"]["recall@10"] == 1.0 and m["old_items"]["ndcg@10"] == 1.0
    assert m["overall"]["n_users"] == 3 and {"cold", "warm"} <= set(m)  # the existing slices stay
    # top-10 lists (seen items removed): a [t4], b [t2, t4, t3], c [t1, t4, t3]
    x = report.exposure
    assert (x["new_items"], x["old_items"]) == (2, 2)
    assert x["new_item_coverage@10"] == 1.0 and x["old_item_coverage@10"] == 1.0
    assert x["new_item_slots@10"] == pytest.approx(5 / 7)
    assert report.as_dict()["exposure"] == x
    valid = evaluate(FixedScores(), split, role="valid", progress=False).metrics  # a -> t3: new
    assert (valid["new_items"]["n_users"], valid["old_items"]["n_users"]) == (1, 0)
    assert np.isnan(valid["old_items"]["ndcg@10"])


def test_exposure_counts_items_reaching_any_list() -> None:
    exposure = TopKExposure(4, k=2)
    exposure.add(np.array([[0, 1], [0, 2]]), np.array([[True, True], [True, True]]))
    exposure.add(np.array([[3, 1]]), np.array([[False, True]]))  # column 3 was a seen item: not shown
    out = exposure.summary(np.array([False, False, True, True]))
    assert out["new_item_coverage@2"] == 0.5 and out["old_item_coverage@2"] == 1.0
    assert out["new_item_slots@2"] == pytest.approx(1 / 5)
    assert np.isnan(TopKExposure(2).summary(np.array([False, False]))["new_item_coverage@10"])


def test_top_columns_match_the_ranking_order() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(40, 15)).astype(float)  # many ties
    seen = rng.random((40, 15)) < 0.3
    top = top_columns(scores, seen, 5)
    want = np.argsort(-np.where(seen, -np.inf, scores), axis=1, kind="stable")[:, :5]
    assert np.array_equal(top, want)
    # an unseen column is in the top-5 list exactly when its rank is below 5
    for col in range(15):
        rows = ~seen[:, col]
        ranks = rank_of_true(scores[rows], np.full(rows.sum(), col), seen[rows])
        assert np.array_equal(ranks < 5, (top[rows] == col).any(axis=1))
