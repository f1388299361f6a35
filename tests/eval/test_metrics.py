"""Full-ranking metrics against hand-computed values on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossrec.eval.metrics import METRIC_KEYS, evaluate_scores, metrics_from_ranks, rank_of_true, summarize

SCORES = np.array([
    [0.9, 0.5, 0.5, 0.1],  # true 2: one strictly higher (col 0) + one tie at a smaller position (col 1) -> 2
    [0.2, 0.2, 0.2, 0.2],  # true 0: all tied, smallest position -> 0
    [0.1, 0.8, 0.3, 0.9],  # true 2: cols 1 and 3 are higher -> 2, or 0 once they are excluded
])
TRUE = np.array([2, 0, 2])


def test_ranks_break_ties_by_catalogue_order() -> None:
    assert rank_of_true(SCORES, TRUE).tolist() == [2, 0, 2]
    assert rank_of_true(SCORES, np.array([1, 3, 0])).tolist() == [1, 3, 3]  # ties after the true column don't count


def test_exclusions_as_lists_or_mask() -> None:
    lists = [np.array([0]), np.array([], dtype=np.int64), np.array([1, 3])]
    assert rank_of_true(SCORES, TRUE, lists).tolist() == [1, 0, 0]
    mask = np.zeros_like(SCORES, dtype=bool)
    mask[0, 0] = mask[2, 1] = mask[2, 3] = True
    assert rank_of_true(SCORES, TRUE, mask).tolist() == [1, 0, 0]


def test_true_column_is_never_excluded() -> None:
    assert rank_of_true(SCORES, TRUE, [np.array([2, 0]), np.array([0]), np.array([2])]).tolist() == [1, 0, 2]


def test_metric_values_by_hand() -> None:
    m = metrics_from_ranks(np.array([0, 3, 9, 10, 25]))
    # hits@10: ranks 0, 3, 9; NDCG gain 1/log2(rank + 2): 1, 1/log2(5), 1/log2(11); @20 adds 1/log2(12)
    assert m["n_users"] == 5
    assert m["recall@10"] == pytest.approx(0.6)
    assert m["ndcg@10"] == pytest.approx((1 + 0.4306765581 + 0.2890648263) / 5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 4 + 1 / 10) / 5)
    assert m["recall@20"] == pytest.approx(0.8)
    assert m["ndcg@20"] == pytest.approx((1 + 0.4306765581 + 0.2890648263 + 0.2789429457) / 5)
    assert list(m) == ["n_users", *METRIC_KEYS]


def test_summary_per_slice_and_empty_slice() -> None:
    res = summarize(np.array([0, 1, 30]), np.array(["cold", "warm", "warm"]))
    assert res["cold"]["n_users"] == 1 and res["cold"]["ndcg@10"] == pytest.approx(1.0)
    assert res["warm"]["n_users"] == 2 and res["warm"]["mrr@10"] == pytest.approx(0.25)
    assert res["overall"]["recall@10"] == pytest.approx(2 / 3)
    empty = summarize(np.array([0]), np.array(["warm"]))["cold"]
    assert empty["n_users"] == 0 and math.isnan(empty["ndcg@10"])


def test_evaluate_scores_matches_ranks_then_summary() -> None:
    res = evaluate_scores(SCORES, TRUE, None, ["cold", "warm", "warm"])
    assert res["overall"]["mrr@10"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert res["cold"]["ndcg@10"] == pytest.approx(1 / math.log2(4))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        rank_of_true(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="rows"):
        rank_of_true(SCORES, TRUE, [np.array([0])])
