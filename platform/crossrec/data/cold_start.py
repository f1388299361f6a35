"""Item cold start: hide a random share of a target domain's items from training (NumPy only).

:func:`hide_target_items` turns a benchmark split into an item-cold-start split: every interaction with a hidden
item leaves the training prefixes (:meth:`TargetSplit.training_sequences`), so no training window holds one as an
input or a label, no training count (MostPop, popularity fallbacks) sees one, and trained models leave them out of
their training softmaxes. The held-out valid/test examples keep their items (so those whose item is hidden are
new-item examples, :func:`new_item_examples`), and the visible histories of evaluation keep them too: a user who
met a hidden item before the held-out interaction still shows it; a model reads it as it would read any item it
has never trained on (crossrec: by its text alone).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from crossrec.data.split import TargetSplit
from crossrec.errors import DataValidationError


def hide_target_items(split: TargetSplit, share: float, seed: int = 0) -> TargetSplit:
    """``split`` with ``round(share * N_T)`` random items of T's catalogue (at least one) hidden from training.

    The choice depends on ``seed`` and the catalogue alone, so every method of a benchmark sees the same items
    hidden. Raises :class:`DataValidationError` for a share outside (0, 1) or one that hides the whole catalogue.
    """
    if not 0.0 < share < 1.0:
        raise DataValidationError(f"item cold start: share must be in (0, 1), got {share}")
    catalogue = split.target_items
    n_hidden = max(1, round(share * len(catalogue)))
    if n_hidden >= len(catalogue):
        raise DataValidationError(f"item cold start: share {share} of {len(catalogue)} target items hides all of "
                                  f"them; at least one must stay in training")
    hidden = np.random.default_rng(seed).choice(catalogue, size=n_hidden, replace=False)
    return dataclasses.replace(split, hidden_items=np.sort(hidden).astype(np.int64))


def unseen_items(split: TargetSplit) -> np.ndarray:
    """(N+1,) bool: items without any interaction in the training prefixes (hidden ones included; padding False)."""
    unseen = split.training_item_counts() == 0
    unseen[0] = False
    return unseen


def new_item_examples(split: TargetSplit, role: str) -> np.ndarray:
    """(B,) bool over ``split.role(role)``: examples whose item has no training interaction (the new-item slice)."""
    return unseen_items(split)[split.role(role)["item_idx"].to_numpy(dtype=np.int64)]
