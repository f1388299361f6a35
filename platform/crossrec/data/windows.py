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


def burst_target_labels(
    items: np.ndarray, timestamps: np.ndarray, offsets: np.ndarray, cutoff: np.ndarray,
    catalogue_position: np.ndarray, adjacent: bool = True, every_position: bool = False,
) -> np.ndarray:
    """Labels shaped like the benchmark's held-out examples, for logs with many same-timestamp interactions.

    A held-out interaction at time t sees every interaction strictly before t and none at t, and it is the
    *last* target item of its timestamp by (timestamp, item_id). So a test-like training example ends at the
    last position of a timestamp group (a "burst": MovieLens saves a page of ratings in one second, ordered
    here by item id) and its label is the last target item of a later burst: the very next one
    (``adjacent``, as at test time: the visible history ends right before the held-out burst) or the first
    later burst holding a target item. Positions inside a burst get no label (their order is an artefact), or,
    with ``every_position``, the label of their burst's end (denser; each sees part of its burst only).
    Same CSR arguments as :func:`next_target_labels`, plus ``timestamps`` (M,) int64. Returns (M,) int64.
    """
    m = items.shape[0]
    counts = np.diff(offsets)
    seg_end = np.repeat(offsets[:-1] + np.minimum(cutoff, counts), counts)
    labels = np.full(m, IGNORE_LABEL, dtype=np.int64)
    if m == 0:
        return labels
    pos = np.arange(m)
    in_prefix = pos < seg_end
    starts = np.zeros(m, dtype=bool)
    starts[offsets[:-1][counts > 0]] = True
    starts[1:] |= timestamps[1:] != timestamps[:-1]
    group = np.cumsum(starts) - 1  # (M,) burst id, increasing along each user's sequence
    n_groups = int(group[-1]) + 1
    last_target = np.full(n_groups, -1, dtype=np.int64)  # position of each burst's last target item
    is_target = (catalogue_position[items] >= 0) & in_prefix
    np.maximum.at(last_target, group[is_target], pos[is_target])
    group_user = np.repeat(np.arange(counts.size), counts)[np.flatnonzero(starts)]  # (G,) owner of each burst
    ends = np.flatnonzero(in_prefix & np.r_[starts[1:], True])  # last position of each burst in a prefix
    g = group[ends]
    if adjacent:
        nxt = g + 1
    else:  # first later burst (of any user) holding a target item; checked against the owner below
        with_target = np.flatnonzero(last_target >= 0)
        k = np.searchsorted(with_target, g, side="right")
        nxt = np.where(k < with_target.size, with_target[np.minimum(k, with_target.size - 1)], n_groups)
    ok = nxt < n_groups
    ok[ok] &= group_user[nxt[ok]] == group_user[g[ok]]
    ok[ok] &= last_target[nxt[ok]] >= 0
    labels[ends[ok]] = catalogue_position[items[last_target[nxt[ok]]]]
    if every_position:
        at_end = np.full(n_groups, IGNORE_LABEL, dtype=np.int64)
        at_end[g] = labels[ends]
        labels = np.where(in_prefix, at_end[group], IGNORE_LABEL)
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
    labels_flat: np.ndarray | None = None,
    next_flat: np.ndarray | None = None,
) -> TrainWindows:
    """Cut every user's training prefix into right-aligned windows of ``max_len`` and label them.

    Windows are taken from the end of the prefix backwards (the most recent first); at most
    ``max_windows_per_user`` per user when given. Windows without any target label are dropped, unless
    ``keep_any_next`` (the merged next-item objective learns from them too). ``labels_flat`` (M,) replaces the
    default :func:`next_target_labels` (e.g. :func:`burst_target_labels`), ``next_flat`` (M,) the default
    :func:`next_any_items`.
    """
    if labels_flat is None:
        labels_flat = next_target_labels(items, offsets, cutoff, catalogue_position)
    if next_flat is None:
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
