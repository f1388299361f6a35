"""The evaluation interface every recommender implements (crossrec and baselines), and the helpers that
turn rows of ``split.examples`` into model inputs, true columns and exclusions. NumPy only.

A recommender is fitted once per split and then scores batches of visible histories::

    model.fit(split)
    batch = make_history_batch(split, split.role("test").iloc[:512], max_len=50)
    scores = model.score(batch)                      # (B, N_T), columns = split.target_items
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from crossrec.data.history import prefix_batch

if TYPE_CHECKING:
    from crossrec.data.split import TargetSplit


@dataclass
class HistoryBatch:
    """Visible histories of B held-out examples, most recent last, left-padded with 0.

    Attributes:
        items: (B, L) int64 item indices (``split.item_index``), 0 = padding.
        domains: (B, L) int64 domain indices, 0 = padding.
        user_ids: (B,) object user ids.
        lengths: (B,) int64 real (non-padding) positions per row, <= L; derived from ``items`` when omitted.
    """

    items: np.ndarray
    domains: np.ndarray
    user_ids: np.ndarray
    lengths: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.lengths is None:
            self.lengths = (np.asarray(self.items) > 0).sum(axis=1).astype(np.int64)

    def __len__(self) -> int:
        return int(self.items.shape[0])


@runtime_checkable
class Recommender(Protocol):
    """One interface for every method evaluated by ``crossrec.eval.runner``."""

    def fit(self, split: TargetSplit) -> None:
        """Learn from ``split`` (training may only read ``sequences`` up to ``train_cutoff`` per user)."""

    def score(self, batch: HistoryBatch) -> np.ndarray:
        """(B, N_T) float scores over ``split.target_items``, in that order; higher = better."""


def make_history_batch(split: TargetSplit, example_rows: pd.DataFrame, max_len: int | None = None) -> HistoryBatch:
    """Slice the visible histories of ``example_rows`` (rows of ``split.examples``) from ``split.sequences``.

    Each row sees ``items[offsets[u] : offsets[u] + history_len]``; the last ``max_len`` of them are kept
    (all when ``max_len`` is None) and right-aligned.
    """
    seq = split.sequences
    starts = seq.offsets[example_rows["user_row"].to_numpy(dtype=np.int64)]
    ends = starts + example_rows["history_len"].to_numpy(dtype=np.int64)  # exclusive end of each visible prefix
    items, domains, kept = prefix_batch(seq.items, seq.domains, starts, ends, max_len)
    return HistoryBatch(items=items, domains=domains, user_ids=example_rows["user_id"].to_numpy(dtype=object),
                        lengths=kept)


def target_columns(split: TargetSplit, item_idx: np.ndarray) -> np.ndarray:
    """(B,) int64 score column of each item index (position in ``split.target_items``); -1 if not in T."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    pos = np.searchsorted(split.target_items, item_idx)
    pos = np.minimum(pos, len(split.target_items) - 1)
    return np.where(split.target_items[pos] == item_idx, pos, -1).astype(np.int64)


def visible_target_mask(split: TargetSplit, example_rows: pd.DataFrame) -> np.ndarray:
    """(B, N_T) bool: True at the score columns of the T items in each row's visible history (to exclude)."""
    seq = split.sequences
    users = example_rows["user_row"].to_numpy(dtype=np.int64)
    history = example_rows["history_len"].to_numpy(dtype=np.int64)
    row = np.repeat(np.arange(len(users)), history)
    pos = seq.offsets[users][row] + np.arange(history.sum()) - np.repeat(np.cumsum(history) - history, history)
    cols = target_columns(split, seq.items[pos])
    mask = np.zeros((len(users), len(split.target_items)), dtype=bool)
    mask[row[cols >= 0], cols[cols >= 0]] = True
    return mask
