"""Frozen-text zero-shot baseline on a tiny random BERT: shapes and the mean-of-history scoring rule."""

from __future__ import annotations

import numpy as np

from crossrec.eval.baselines.zero_shot import ZeroShot
from crossrec.eval.protocol import HistoryBatch
from crossrec.model.config import BackboneConfig


def test_zero_shot_scores_are_cosines_to_the_history_mean(tmp_path) -> None:
    from crossrec.data.split import split_target
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    split = split_target(generate_synthetic(SyntheticConfig(n_users=30, n_items=12, n_topics=3)), "movies")
    zs = ZeroShot(BackboneConfig(max_length=16), last_n=2)
    zs.fit(split)
    items = np.array([[0, 3, 5, 7], [0, 0, 0, 2]])
    scores = zs.score(HistoryBatch(items=items, domains=split.item_index.item_domain[items], user_ids=np.array(["a", "b"])))
    assert scores.shape == (2, len(split.target_items))
    mean = zs.table[[5, 7]].mean(0)
    want = zs.table[split.target_items] @ (mean / np.linalg.norm(mean))
    assert np.allclose(scores[0], want, atol=1e-5)
    assert np.allclose(np.linalg.norm(zs.table[1:], axis=1), 1.0, atol=1e-5)
