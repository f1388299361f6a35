"""Items without a trained ID embedding (new, or outside the bundle), represented by their text alone.

A target's heads read an item as ``v_i = LN(E_id[i] + W_text · text_i)`` (:class:`ItemTower`); an open item has
no ``E_id`` row, so it is ``LN(W_text · text)``: the item tower's own output with the ID part masked, on the same
scale as every catalogue vector (the ``tower.id_dropout`` training objective makes the two comparable).

Which embedding ``text`` must be is fixed by how the target's text table was built (:class:`ItemTextSide`):
the target's LoRA adapter for items of the target domain, the base backbone for every other domain
(:func:`adapter_for`).

Shapes: B batch, L history positions, H backbone hidden size, D ``tower.d_model``.
"""

from __future__ import annotations

import torch

from crossrec.errors import ModelInputError
from crossrec.model.recommender import CrossRecModel, Interests


def adapter_for(target: str, domain: str) -> str | None:
    """The adapter whose embedding target ``target``'s heads expect for an item of ``domain`` (None: base)."""
    return target if domain == target else None


def reads_text(model: CrossRecModel) -> bool:
    """Whether ``model``'s item tower has a text side (an ID-only model cannot read an open item)."""
    return model.item_tower.text_proj is not None


def _check(model: CrossRecModel, text: torch.Tensor) -> None:
    if not reads_text(model):
        raise ModelInputError("this model has no text side (tower.use_text is false): open items need one")
    width = model.item_tower.text_table.shape[1]
    if text.shape[-1] != width:
        raise ModelInputError(f"open item text embeddings must have width {width}, got {text.shape[-1]}")


def text_item_vectors(model: CrossRecModel, text: torch.Tensor) -> torch.Tensor:
    """Text embeddings (N, H) of items of the target domain -> their candidate vectors (N, D), text-only."""
    _check(model, text)
    text = text.to(model.item_tower.text_table.device, torch.float32)
    idx = torch.zeros(text.shape[0], dtype=torch.long, device=text.device)  # no ID row: masked below anyway
    return model.item_tower(idx, text, candidates=True, id_mask=torch.zeros_like(idx, dtype=torch.bool))


def interests_with_text(model: CrossRecModel, items: torch.Tensor, domains: torch.Tensor, text: torch.Tensor,
                        is_text: torch.Tensor) -> Interests:
    """Per-position interests of histories mixing catalogue items and open items.

    Args:
        items, domains: (B, L) int64, left-padded with 0; at open positions ``items`` holds any value > 0 (it
            only marks the position valid) and ``domains`` the item's domain.
        text: (B, L, H) text embeddings of the open positions (other rows are ignored).
        is_text: (B, L) bool, the open positions.
    Returns :meth:`CrossRecModel.encode_interests`'s :class:`Interests`.
    """
    _check(model, text)
    tower = model.item_tower
    device = tower.text_table.device
    items, domains, is_text = items.to(device), domains.to(device), is_text.to(device)
    text = text.to(device, torch.float32)
    items = torch.where(is_text, torch.ones_like(items), items)  # an in-range index: its ID part is masked
    if model.only_domain is not None:  # apply the target-only rule here, where text and flags move with items
        keep = (items > 0) & (domains == model.only_domain)
        order = torch.argsort(keep.to(torch.int8), dim=1, stable=True)
        items = torch.where(keep, items, 0).gather(1, order)
        domains = torch.where(items > 0, domains.gather(1, order), 0)
        is_text = is_text.gather(1, order) & (items > 0)
        text = text.gather(1, order.unsqueeze(-1).expand(-1, -1, text.shape[-1]))
    window = model.cfg.tower.max_len
    items, domains, is_text, text = items[:, -window:], domains[:, -window:], is_text[:, -window:], text[:, -window:]
    rows = torch.where(is_text.unsqueeze(-1), text,
                       tower.text_table[torch.where(is_text, 0, items)])  # (B, L, H)
    id_mask = ~is_text
    if not model.cfg.tower.source_item_ids:
        id_mask = id_mask & (domains == model.target_domain)
    item_vecs = tower(torch.where(is_text, 0, items), rows, id_mask=id_mask)  # (B, L, D)
    return model.encode_interests(items, domains, item_vecs=item_vecs)


def user_vectors_with_text(model: CrossRecModel, items: torch.Tensor, domains: torch.Tensor, text: torch.Tensor,
                           is_text: torch.Tensor) -> torch.Tensor:
    """(B, L) histories mixing catalogue and open items (as :func:`interests_with_text`) -> (B, D) ranking
    queries at the most recent position: :meth:`CrossRecModel.user_vectors` for histories with open items."""
    last = interests_with_text(model, items, domains, text, is_text).last()
    return model.query(model.fuse(last), last.hidden).squeeze(1)


__all__ = ["adapter_for", "interests_with_text", "reads_text", "text_item_vectors", "user_vectors_with_text"]
