"""MostPop: popularity over every user's test-visible target history, through the Recommender protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.data.dataset import make_dataset
from crossrec.data.split import split_target
from crossrec.eval.baselines.mostpop import MostPop
from crossrec.eval.metrics import evaluate_scores
from crossrec.eval.protocol import Recommender, make_history_batch, target_columns, visible_target_mask

ML1M = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "movielens" / "ml-1m"


def _split():
    items = pd.DataFrame({"item_id": ["t1", "t2", "t3", "s1"], "domain": ["T", "T", "T", "S"],
                          "text": ["a", "b", "c", "d"]})
    interactions = pd.DataFrame([
        ("a", "t1", 1), ("a", "t2", 2), ("a", "t3", 3), ("a", "t3", 4),  # test t3@4: sees t1, t2, t3
        ("b", "t2", 1), ("b", "s1", 2), ("b", "t1", 5), ("b", "t2", 5),  # test t2@5: sees t2 (t1 is same second)
        ("c", "s1", 1),                                                    # never in T
    ], columns=["user_id", "item_id", "timestamp"])
    return split_target(make_dataset("p", interactions, items), "T")


def test_counts_only_test_visible_target_items() -> None:
    split = _split()
    model = MostPop()
    assert isinstance(model, Recommender)
    model.fit(split)
    # visible T items: a -> t1, t2, t3; b -> t2. Columns follow split.target_items (t1, t2, t3).
    assert model.popularity.tolist() == [1.0, 2.0, 1.0]
    batch = make_history_batch(split, split.role("test"), max_len=4)
    scores = model.score(batch)
    assert scores.shape == (2, 3) and scores.dtype == np.float64
    assert (scores == model.popularity).all()


def test_score_before_fit_fails() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        MostPop().score(make_history_batch(_split(), _split().role("test"), 2))


@pytest.mark.slow
@pytest.mark.skipif(not ML1M.is_dir(), reason="../shared/data/movielens/ml-1m is absent")
def test_reproduces_benchmark_figures_on_ml1m() -> None:
    from crossrec.data.importers import ImportOptions, import_recbole

    ds = import_recbole(ML1M, ImportOptions(domains="movielens_genre_groups"))
    for target, expected in {"family": (0.159, 0.214, 0.130), "thriller": (0.059, 0.077, 0.057)}.items():
        split = split_target(ds, target)
        test = split.role("test")
        model = MostPop()
        model.fit(split)
        res = evaluate_scores(model.score(make_history_batch(split, test, 1)), target_columns(split, test["item_idx"]),
                              visible_target_mask(split, test), test["slice"])
        got = tuple(round(res[s]["ndcg@10"], 3) for s in ("overall", "cold", "warm"))
        assert got == expected
