"""Full-ranking metrics of BENCHMARK.md (NumPy only): ranks with deterministic tie-breaking, then
Recall@K (= HR@K, one held-out item per row), NDCG@K and MRR@K, overall and per slice.

Rank of the held-out item (0 = top) among the non-excluded columns::

    rank = #{j not excluded: s_j > s_true} + #{j not excluded, j < true: s_j == s_true}

i.e. ties are broken by catalogue order (column index). The true column is never excluded, even when it
is listed in the exclusions (a repeated item that the user already saw).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Metric:
    """One ranking metric at a cutoff: ``key`` names it in reports (``ndcg@10``), ``label`` in tables
    (``NDCG@10``); ``per_rank`` maps (B,) 0-based ranks to (B,) per-row gains, averaged over rows."""

    name: str
    k: int
    label_name: str
    per_rank: Callable[[np.ndarray, int], np.ndarray]

    @property
    def key(self) -> str:
        return f"{self.name}@{self.k}"

    @property
    def label(self) -> str:
        return f"{self.label_name}@{self.k}"

    def logged(self, role: str = "valid") -> str:
        """The metric's name in training logs, Ray reports and trackers: ``valid_ndcg_at_10``."""
        return f"{role}_{self.name}_at_{self.k}"


def _recall(ranks: np.ndarray, k: int) -> np.ndarray:
    return (ranks < k).astype(np.float64)  # = HR@K: one held-out item per row


def _ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def _mrr(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)


RECALL_AT_10 = Metric("recall", 10, "Recall", _recall)
NDCG_AT_10 = Metric("ndcg", 10, "NDCG", _ndcg)
MRR_AT_10 = Metric("mrr", 10, "MRR", _mrr)
#: Every metric an evaluation reports, in report order (the registry: add a metric here and every report,
#: table and log carries it).
METRICS: tuple[Metric, ...] = (RECALL_AT_10, NDCG_AT_10, MRR_AT_10, Metric("recall", 20, "Recall", _recall),
                               Metric("ndcg", 20, "NDCG", _ndcg))
METRIC_KEYS = tuple(m.key for m in METRICS)
#: The metric that selects: early stopping, best checkpoint, sweeps' objective, best baseline.
SELECTION_METRIC = NDCG_AT_10
#: Short summaries (quickstart table, one-line logs) show these.
SUMMARY_METRICS: tuple[Metric, ...] = (NDCG_AT_10, RECALL_AT_10, MRR_AT_10)
SLICES = ("cold", "warm")

Exclusions = np.ndarray | Sequence[np.ndarray] | None


def exclusion_mask(exclude: Exclusions, shape: tuple[int, int]) -> np.ndarray:
    """(B, N) bool mask from a bool mask, a list of B column-index arrays, or None (nothing excluded)."""
    if exclude is None:
        return np.zeros(shape, dtype=bool)
    if isinstance(exclude, np.ndarray) and exclude.dtype == bool:
        if exclude.shape != shape:
            raise ValueError(f"exclusion mask has shape {exclude.shape}, expected {shape}")
        return exclude
    if len(exclude) != shape[0]:
        raise ValueError(f"got exclusions for {len(exclude)} rows, expected {shape[0]}")
    lengths = np.array([len(cols) for cols in exclude], dtype=np.int64)
    mask = np.zeros(shape, dtype=bool)
    if lengths.sum():
        cols = np.concatenate([np.asarray(c, dtype=np.int64) for c in exclude])
        mask[np.repeat(np.arange(shape[0]), lengths), cols] = True
    return mask


def rank_of_true(scores: np.ndarray, true_cols: np.ndarray, exclude: Exclusions = None) -> np.ndarray:
    """0-based rank of each row's true column among its non-excluded columns.

    Args:
        scores: (B, N) float scores over the target catalogue (columns = ``split.target_items`` order).
        true_cols: (B,) int64 column of the held-out item.
        exclude: columns removed from the ranking per row (see :func:`exclusion_mask`).
    Returns:
        (B,) int64 ranks; 0 = ranked first.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (B, N), got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    true_cols = np.asarray(true_cols, dtype=np.int64)
    rows = np.arange(scores.shape[0])
    true_score = scores[rows, true_cols][:, None]
    keep = ~exclusion_mask(exclude, scores.shape)
    keep[rows, true_cols] = True
    before = np.arange(scores.shape[1])[None, :] < true_cols[:, None]
    ahead = (scores > true_score) | ((scores == true_score) & before)
    ahead[rows, true_cols] = False
    return (ahead & keep).sum(axis=1).astype(np.int64)


def metrics_from_ranks(ranks: np.ndarray) -> dict[str, Any]:
    """{n_users, every key of :data:`METRICS`} averaged over ``ranks`` (NaN when empty)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    out: dict[str, Any] = {"n_users": int(ranks.size)}
    if ranks.size == 0:
        return out | {m.key: float("nan") for m in METRICS}
    return out | {m.key: float(m.per_rank(ranks, m.k).mean()) for m in METRICS}


def summarize(ranks: np.ndarray, slices: np.ndarray | Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Metrics overall and per slice.

    Args:
        ranks: (B,) int64 0-based ranks.
        slices: (B,) slice name per row ("cold" | "warm"), or None for overall only.
    Returns:
        ``{"overall": {...}, "cold": {...}, "warm": {...}}`` with the keys of :func:`metrics_from_ranks`.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    result = {"overall": metrics_from_ranks(ranks)}
    if slices is not None:
        slices = np.asarray(slices, dtype=object)
        names = list(SLICES) + sorted(set(slices.tolist()) - set(SLICES))
        for name in names:
            result[name] = metrics_from_ranks(ranks[slices == name])
    return result


def evaluate_scores(scores: np.ndarray, true_cols: np.ndarray, exclude: Exclusions = None,
                    slices: np.ndarray | Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`rank_of_true` then :func:`summarize`, for a score matrix that fits in memory."""
    return summarize(rank_of_true(scores, true_cols, exclude), slices)
