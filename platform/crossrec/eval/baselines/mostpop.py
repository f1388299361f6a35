"""MostPop: target-domain popularity, the same ranking for every user (BENCHMARK.md baselines).

Popularity counts T items over every user's test-visible history: for each test example, the T
interactions of its user with timestamp < the test timestamp (``history_len`` prefix). This is what the
reference figures of BENCHMARK.md use. Items hidden by an item-cold-start split are never counted (score 0).
"""

from __future__ import annotations

import numpy as np

from crossrec.data.split import TargetSplit
from crossrec.eval.protocol import HistoryBatch, target_columns


def visible_target_popularity(split: TargetSplit) -> np.ndarray:
    """(N_T,) float64 counts of each target item over all test examples' visible histories."""
    seq = split.sequences
    test = split.role("test")
    users = test["user_row"].to_numpy(dtype=np.int64)
    history = test["history_len"].to_numpy(dtype=np.int64)
    lengths = np.zeros(seq.n_users, dtype=np.int64)
    lengths[users] = history
    position = np.arange(len(seq.items)) - np.repeat(seq.offsets[:-1], seq.lengths)
    visible = position < np.repeat(lengths, seq.lengths)
    if len(split.hidden_items):
        visible &= ~np.isin(seq.items, split.hidden_items)
    cols = target_columns(split, seq.items[visible])
    return np.bincount(cols[cols >= 0], minlength=len(split.target_items)).astype(np.float64)


class MostPop:
    """Recommender-protocol baseline: ``score(batch)`` is the popularity vector repeated B times."""

    name = "mostpop"

    def __init__(self) -> None:
        self.popularity: np.ndarray | None = None  # (N_T,) float64

    def fit(self, split: TargetSplit) -> None:
        self.popularity = visible_target_popularity(split)

    def score(self, batch: HistoryBatch) -> np.ndarray:
        """(B, N_T) float64 popularity scores."""
        if self.popularity is None:
            raise RuntimeError("MostPop.score called before fit(split)")
        return np.broadcast_to(self.popularity, (len(batch), self.popularity.shape[0])).copy()
