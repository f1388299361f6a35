"""History batching: the one home of left-padding and of the usable-history rule (NumPy; no torch, no ray).

Every model reads a batch of user histories as two (B, L) int64 arrays, items and domains, most recent
item last and left-padded with 0. Evaluation (``eval/protocol.py``), batch inference, serving and the
baselines build those batches here; the model (``model/recommender.py``) and the scorers apply the same
rule of which positions it reads. :func:`readable` and :func:`usable_rows` take NumPy arrays or torch
tensors alike (they only use ``>``, ``==``, ``&`` and ``.any``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")  # numpy.ndarray or torch.Tensor

__all__ = ["compact_left", "left_pad", "prefix_batch", "readable", "usable_rows"]


def readable(items: ArrayT, domains: ArrayT, only_domain: int | None = None) -> ArrayT:
    """(B, L) bool: the positions a model reads: real items (not padding), and only items of domain
    ``only_domain`` when one is given (a model that reads target-domain items alone)."""
    keep = items > 0
    return keep & (domains == only_domain) if only_domain is not None else keep


def usable_rows(items: ArrayT, domains: ArrayT, only_domain: int | None = None) -> ArrayT:
    """(B,) bool: rows holding at least one position the model reads (others get a fallback ranking)."""
    return readable(items, domains, only_domain).any(1)


def prefix_batch(items: np.ndarray, domains: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slice histories ``items[starts[b] : ends[b]]`` out of flat (CSR) arrays into a left-padded batch.

    Args:
        items, domains: (T,) int64 flat sequences of every user.
        starts, ends: (B,) int64 bounds of each row's history (``ends`` exclusive).
        width: keep the last ``width`` items of each history; None keeps them all (width = longest row).
    Returns:
        items (B, W), domains (B, W) int64, right-aligned and left-padded with 0; lengths (B,) kept items.
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    full = ends - starts
    kept = full if width is None else np.minimum(full, width)
    w = max(int(kept.max(initial=0)), 1) if width is None else width
    cols = np.arange(w)[None, :]
    real = cols >= (w - kept)[:, None]
    pos = np.where(real, ends[:, None] - w + cols, 0)
    return (np.where(real, items[pos], 0).astype(np.int64), np.where(real, domains[pos], 0).astype(np.int64),
            kept.astype(np.int64))


def left_pad(histories: Sequence[tuple[np.ndarray, np.ndarray]], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack (items (L_b,), domains (L_b,)) histories into left-padded (B, W) arrays, keeping the last
    ``width`` items of each (all when None: W = the longest history, at least 1)."""
    if width is None:
        width = max([len(items) for items, _ in histories] + [1])
    out_items = np.zeros((len(histories), width), dtype=np.int64)
    out_domains = np.zeros_like(out_items)
    for r, (items, domains) in enumerate(histories):
        n = min(len(items), width)
        if n:
            out_items[r, -n:], out_domains[r, -n:] = items[-n:], domains[-n:]
    return out_items, out_domains


def compact_left(ids: np.ndarray, keep: np.ndarray, width: int) -> np.ndarray:
    """(B, W) ids -> (B, width): the last ``width`` ids of each row where ``keep`` (B, W) is True, in order,
    left-padded with 0 (drops the positions a model does not read, then re-pads)."""
    from_end = np.cumsum(keep[:, ::-1], axis=1)[:, ::-1]  # 1 = a row's last kept id
    put = keep & (from_end <= width)
    out = np.zeros((ids.shape[0], width), dtype=np.int64)
    rows, cols = np.nonzero(put)
    out[rows, width - from_end[rows, cols]] = ids[rows, cols]
    return out
