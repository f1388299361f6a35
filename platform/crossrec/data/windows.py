"""Training windows for dense next-target-item prediction (NumPy only, no torch, no ray).

Each user's training prefix (``split.train_cutoff``) is cut, from its end, into windows of at most ``L``
items (left-padded with 0). The label at each position is the catalogue position of the user's next
target-domain item *after* that position inside the training prefix, or ``IGNORE_LABEL``. A held-out
valid/test interaction is never part of a training prefix, so it is never an input nor a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_LABEL = -100


@dataclass
class TrainWindows:
    """items, domains: (W, L) int64 left-padded; labels: (W, L) int64 catalogue positions or -100;
    next_items: (W, L) int64 item index of the next item in *any* domain (the merged next-item target) or -100."""

    items: np.ndarray
    domains: np.ndarray
    labels: np.ndarray
    next_items: np.ndarray

    def __len__(self) -> int:
        return int(self.items.shape[0])

    @property
    def n_labels(self) -> int:
        return int((self.labels != IGNORE_LABEL).sum())


def next_target_labels(
    items: np.ndarray, offsets: np.ndarray, cutoff: np.ndarray, catalogue_position: np.ndarray
) -> np.ndarray:
    """For every position of the concatenated sequences, the catalogue position of the next target item.

    Args:
        items: (M,) int64 item indices of all users' sequences (CSR values).
        offsets: (U+1,) int64 CSR offsets.
        cutoff: (U,) int64 training prefix length per user.
        catalogue_position: (N+1,) int64, position of each item in T's catalogue or -1.
    Returns:
        (M,) int64 labels; IGNORE_LABEL where no target item follows inside the user's prefix.
    """
    counts = np.diff(offsets)
    seg_end = np.repeat(offsets[:-1] + np.minimum(cutoff, counts), counts)  # exclusive end per position
    labels = np.full(items.shape[0], IGNORE_LABEL, dtype=np.int64)
    target_pos = np.flatnonzero(catalogue_position[items] >= 0)  # sorted global positions of T items
    if target_pos.size == 0:
        return labels
    nxt = np.searchsorted(target_pos, np.arange(items.shape[0]), side="right")
    nxt_pos = target_pos[np.minimum(nxt, target_pos.size - 1)]
    ok = (nxt < target_pos.size) & (nxt_pos < seg_end)
    labels[ok] = catalogue_position[items[nxt_pos[ok]]]
    return labels


def next_any_items(items: np.ndarray, offsets: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
    """(M,) int64 item index of the item that follows each position inside its user's training prefix, or
    IGNORE_LABEL at the prefix's last position (and beyond it). Same CSR arguments as :func:`next_target_labels`."""
    counts = np.diff(offsets)
    seg_end = np.repeat(offsets[:-1] + np.minimum(cutoff, counts), counts)
    nxt = np.arange(items.shape[0]) + 1
    ok = nxt < seg_end
    out = np.full(items.shape[0], IGNORE_LABEL, dtype=np.int64)
    out[ok] = items[nxt[ok]]
    return out


def build_train_windows(
    items: np.ndarray,
    domains: np.ndarray,
    offsets: np.ndarray,
    cutoff: np.ndarray,
    catalogue_position: np.ndarray,
    max_len: int,
    max_windows_per_user: int | None = None,
    keep_any_next: bool = False,
) -> TrainWindows:
    """Cut every user's training prefix into right-aligned windows of ``max_len`` and label them.

    Windows are taken from the end of the prefix backwards (the most recent first); at most
    ``max_windows_per_user`` per user when given. Windows without any target label are dropped, unless
    ``keep_any_next`` (the merged next-item objective learns from them too).
    """
    labels_flat = next_target_labels(items, offsets, cutoff, catalogue_position)
    next_flat = next_any_items(items, offsets, cutoff)
    lengths = np.minimum(cutoff, np.diff(offsets)).astype(np.int64)
    n_win = -(-lengths // max_len)  # ceil
    if max_windows_per_user is not None:
        n_win = np.minimum(n_win, max_windows_per_user)
    user = np.repeat(np.arange(lengths.shape[0]), n_win)
    k = np.arange(user.shape[0]) - np.repeat(np.cumsum(n_win) - n_win, n_win)  # window number per user
    end = lengths[user] - k * max_len  # exclusive, relative to the user's start
    rel = end[:, None] - max_len + np.arange(max_len)[None, :]  # (W, L) relative positions
    valid = rel >= 0
    absolute = np.where(valid, offsets[user][:, None] + rel, 0)
    win_items = np.where(valid, items[absolute], 0)
    win_domains = np.where(valid, domains[absolute], 0)
    win_labels = np.where(valid, labels_flat[absolute], IGNORE_LABEL)
    win_next = np.where(valid, next_flat[absolute], IGNORE_LABEL)
    keep = (win_labels != IGNORE_LABEL).any(axis=1)
    if keep_any_next:
        keep |= (win_next != IGNORE_LABEL).any(axis=1)
    return TrainWindows(win_items[keep], win_domains[keep], win_labels[keep], win_next[keep])
