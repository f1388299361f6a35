"""Explanations that are faithful to the model: exact leave-one-out score changes, batched (plain PyTorch).

For a user history ``H`` and a recommended item ``j``, the weight of history item ``i`` is how much it pushed
``j``'s score up::

    weight(i, j) = score(H, j) - score(H without i, j)

The variants "H without i" (one per considered position) run through the model as one batch together with
``H`` itself, so explaining a request costs one extra forward of ``P + 1`` histories (P <= ``max_history``)
and a (P + 1, D) x (D, k) product for the k recommended items. Removing an item lets the next older item into
the model's window, exactly as if the user had never had it. Positions whose removal leaves no usable
history get no weight (NaN): the model has nothing to compare them with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from crossrec.data.history import left_pad, readable
from crossrec.model.recommender import CrossRecModel

__all__ = ["Explanation", "explain_items", "leave_one_out", "top_reasons"]


@dataclass
class Explanation:
    """Leave-one-out weights of one history for k items.

    Attributes:
        positions: (P,) int64 positions in the history (0 = oldest) that were considered.
        weights: (P, k) float32 score change of each item when that position is removed (NaN: no usable
            history without it).
        scores: (k,) float32 the items' scores with the whole history.
    """

    positions: np.ndarray
    weights: np.ndarray
    scores: np.ndarray


@torch.no_grad()
def leave_one_out(model: CrossRecModel, items: np.ndarray, domains: np.ndarray, item_vectors: torch.Tensor,
                  max_history: int = 50, text: torch.Tensor | None = None,
                  slots: np.ndarray | None = None) -> Explanation:
    """Exact leave-one-out weights of a history for some items.

    Args:
        model: an eval-mode model.
        items, domains: (L,) int64 the user's history (item / domain indices), oldest first.
        item_vectors: (k, D) the explained items' vectors (rows of ``model.catalogue_vectors()``, or text-only
            vectors of items added since training: :func:`crossrec.model.open_items.text_item_vectors`).
        max_history: consider at most the latest this many positions the model reads.
        text, slots: the history's *open* items (read by their text, :mod:`crossrec.model.open_items`):
            ``slots`` (L,) int, the row of ``text`` (S, H) holding position l's text embedding, -1 for a
            catalogue item. None: every item is a catalogue item.
    """
    items, domains = np.asarray(items, dtype=np.int64), np.asarray(domains, dtype=np.int64)
    slots = np.full(items.shape, -1, dtype=np.int64) if slots is None else np.asarray(slots, dtype=np.int64)
    positions = np.flatnonzero(readable(items, domains, model.only_domain))[-max_history:]
    variants = [(items, domains, slots)] + [(np.delete(items, p), np.delete(domains, p), np.delete(slots, p))
                                            for p in positions]
    batch_items, batch_domains = left_pad([(i, d) for i, d, _ in variants], model.history_window)
    shifted, _ = left_pad([(s + 1, s) for _, _, s in variants], model.history_window)  # padding: slot -1
    batch_items, batch_domains = torch.from_numpy(batch_items), torch.from_numpy(batch_domains)
    batch_slots = torch.from_numpy(shifted - 1)
    device = item_vectors.device
    usable = model.usable_rows(batch_items, batch_domains)
    scores = torch.full((len(variants), item_vectors.shape[0]), float("nan"), device=device)
    if bool(usable.any()):
        rows = torch.nonzero(usable).flatten()
        queries = _user_vectors(model, batch_items[rows], batch_domains[rows], batch_slots[rows], text)
        scores[rows.to(device)] = model.scores(queries.to(device), item_vectors)
    scores = scores.float().cpu().numpy()
    return Explanation(positions.astype(np.int64), scores[0][None, :] - scores[1:], scores[0])


def _user_vectors(model: CrossRecModel, items: torch.Tensor, domains: torch.Tensor, slots: torch.Tensor,
                  text: torch.Tensor | None) -> torch.Tensor:
    """(B, L) histories (open positions where ``slots`` >= 0) -> (B, D) ranking queries."""
    is_text = slots >= 0
    if not bool(is_text.any()):
        device = model.catalogue.device
        return model.user_vectors(items.to(device), domains.to(device))
    if text is None:
        raise ValueError("leave_one_out: the history has open items (slots >= 0) but no text embeddings")
    from crossrec.model.open_items import user_vectors_with_text

    return user_vectors_with_text(model, items, domains, text[slots.clamp(min=0)], is_text)


def top_reasons(explanation: Explanation, n: int) -> list[list[tuple[int, float]]]:
    """Per explained item: up to ``n`` (history position, weight) pairs with positive weight, largest first."""
    out = []
    for col in range(explanation.weights.shape[1]):
        w = explanation.weights[:, col]
        order = [i for i in np.argsort(-np.nan_to_num(w, nan=-np.inf), kind="stable") if w[i] > 0][:n]
        out.append([(int(explanation.positions[i]), float(w[i])) for i in order])
    return out


def explain_items(model: CrossRecModel, items: np.ndarray, domains: np.ndarray, item_vectors: torch.Tensor, n: int,
                  max_history: int = 50) -> list[list[tuple[int, float]]]:
    """Per explained item (rows of ``item_vectors``): up to ``n`` (history item index, weight) pairs, strongest
    first; [] when the history holds nothing the model reads. What evaluation and the batch job return (serving
    reads histories with open items, so it keeps positions: :func:`leave_one_out` and :func:`top_reasons`)."""
    items = np.asarray(items, dtype=np.int64)
    reasons = top_reasons(leave_one_out(model, items, domains, item_vectors, max_history), n)
    return [[(int(items[p]), w) for p, w in row] for row in reasons]
