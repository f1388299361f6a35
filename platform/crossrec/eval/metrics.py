"""Full-ranking metrics of BENCHMARK.md (NumPy only): ranks with deterministic tie-breaking, then
Recall@K (= HR@K, one held-out item per row), NDCG@K and MRR@K, overall and per slice.

Rank of the held-out item (0 = top) among the non-excluded columns::

    rank = #{j not excluded: s_j > s_true} + #{j not excluded, j < true: s_j == s_true}

i.e. ties are broken by catalogue order (column index). The true column is never excluded, even when it
is listed in the exclusions (a repeated item that the user already saw).

Item slices: ``new_items`` are the examples whose item has no training interaction (item cold start),
``old_items`` the others. Catalogue exposure (:class:`TopKExposure`) says how many of the catalogue's new items
reach at least one user's top-K list, beside the same share for old items.
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
ITEM_SLICES = ("new_items", "old_items")  # examples whose item has / has not a training interaction
EXPOSURE_K = 10  # the top-K lists of the catalogue exposure figures

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


def summarize(ranks: np.ndarray, slices: np.ndarray | Sequence[str] | None = None,
              new_items: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Metrics overall and per slice.

    Args:
        ranks: (B,) int64 0-based ranks.
        slices: (B,) slice name per row ("cold" | "warm"), or None for overall only.
        new_items: (B,) bool, True where the row's item has no training interaction: adds the
            :data:`ITEM_SLICES` ``new_items`` / ``old_items``.
    Returns:
        ``{"overall": {...}, "cold": {...}, "warm": {...}[, "new_items": {...}, "old_items": {...}]}`` with the
        keys of :func:`metrics_from_ranks`.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    result = {"overall": metrics_from_ranks(ranks)}
    if slices is not None:
        slices = np.asarray(slices, dtype=object)
        names = list(SLICES) + sorted(set(slices.tolist()) - set(SLICES))
        for name in names:
            result[name] = metrics_from_ranks(ranks[slices == name])
    if new_items is not None:
        new_items = np.asarray(new_items, dtype=bool)
        if new_items.shape != ranks.shape:
            raise ValueError(f"new_items has shape {new_items.shape}, expected {ranks.shape}")
        result["new_items"] = metrics_from_ranks(ranks[new_items])
        result["old_items"] = metrics_from_ranks(ranks[~new_items])
    return result


def top_columns(scores: np.ndarray, exclude: Exclusions, k: int) -> np.ndarray:
    """(B, min(k, N)) int64 columns of each row's top-k list, best first, in :func:`rank_of_true`'s order
    (higher score first, ties by column). Excluded columns come last (only when fewer than k are left);
    callers that need real recommendations drop them with the exclusion mask. O(N) per row plus O(k log k)."""
    scores = np.asarray(scores, dtype=np.float64)
    b, n = scores.shape
    k = min(k, n)
    if k == 0:
        return np.zeros((b, 0), dtype=np.int64)
    masked = np.where(exclusion_mask(exclude, scores.shape), -np.inf, scores)
    kth = -np.partition(-masked, k - 1, axis=1)[:, k - 1 : k]  # (B, 1) the k-th largest score
    above = masked > kth
    tied = masked == kth
    room = k - above.sum(axis=1, keepdims=True)  # how many tied columns still fit, taken in column order
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    cols = np.nonzero(chosen)[1].reshape(b, k)  # each row's k columns, ascending
    order = np.argsort(-np.take_along_axis(masked, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1).astype(np.int64)


class TopKExposure:
    """Which catalogue columns reach users' top-k lists, accumulated over batches.

    ``add(top, shown)``: ``top`` (B, k) columns from :func:`top_columns`, ``shown`` (B, k) bool, False for entries that
    are not real recommendations (excluded columns). ``summary(new)`` with ``new`` (N,) bool, the catalogue's new
    items (no training interaction), gives ``new_items`` / ``old_items`` (counts in the catalogue), the share of
    each that appears in at least one top-k list (``new_item_coverage@k``, ``old_item_coverage@k``; NaN for an
    empty group) and the share of all top-k slots held by new items (``new_item_slots@k``).
    """

    def __init__(self, n_columns: int, k: int = EXPOSURE_K) -> None:
        self.k = k
        self.counts = np.zeros(n_columns, dtype=np.int64)

    def add(self, top: np.ndarray, shown: np.ndarray) -> None:
        self.counts += np.bincount(top[shown], minlength=self.counts.shape[0])

    def summary(self, new: np.ndarray) -> dict[str, Any]:
        new = np.asarray(new, dtype=bool)
        if new.shape != self.counts.shape:
            raise ValueError(f"new has shape {new.shape}, expected {self.counts.shape}")
        reached = self.counts > 0
        slots = int(self.counts.sum())

        def share(group: np.ndarray) -> float:
            return float(reached[group].mean()) if group.any() else float("nan")

        return {"k": self.k, "new_items": int(new.sum()), "old_items": int((~new).sum()),
                f"new_item_coverage@{self.k}": share(new), f"old_item_coverage@{self.k}": share(~new),
                f"new_item_slots@{self.k}": float(self.counts[new].sum() / slots) if slots else float("nan")}


def evaluate_scores(scores: np.ndarray, true_cols: np.ndarray, exclude: Exclusions = None,
                    slices: np.ndarray | Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`rank_of_true` then :func:`summarize`, for a score matrix that fits in memory."""
    return summarize(rank_of_true(scores, true_cols, exclude), slices)
