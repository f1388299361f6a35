"""Item tower, causal sequence encoder and target-interest pooling.

Shapes: B batch, L history length (left-padded, most recent item last), D = ``tower.d_model``,
H = backbone hidden size, N = number of items over all domains (index 0 is padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossrec.model.config import TowerConfig
from crossrec.model.layers import CausalTransformer


class ItemTower(nn.Module):
    """Item vector ``v_i = LN(E_id[i] + W_text · text_i)``: a text-ID hybrid.

    The text embeddings ``text_i`` (N+1, H) come from the backbone with the item's adapter and are kept in a
    non-persistent buffer (``text_table``) that bundles store separately as NumPy. During adapter training a
    subset of rows can be replaced by *live* embeddings that carry gradient into the LoRA weights.

    :meth:`read_by_text` names items (new or rare ones) whose ID part is always masked: they are ``LN(W_text ·
    text_i)``, the same vector :func:`crossrec.model.open_items.text_item_vectors` gives an item outside the index.
    """

    def __init__(self, n_items: int, text_dim: int, cfg: TowerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.id_emb = nn.Embedding(n_items, d, padding_idx=0) if cfg.use_item_ids else None
        self.text_proj = text_projection(text_dim, d, cfg.text_layers) if cfg.use_text else None
        self.ln = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.register_buffer("text_table", torch.zeros(n_items, text_dim), persistent=False)
        self.register_buffer("has_id", None, persistent=False)  # (n_items,) bool, or None: every item has its ID
        if self.id_emb is not None:
            nn.init.normal_(self.id_emb.weight, std=0.02)
            with torch.no_grad():
                self.id_emb.weight[0].zero_()

    def set_text_table(self, table: torch.Tensor) -> None:
        """Install the cached text embeddings, (N+1, H) float; row 0 (padding) should be zeros."""
        if table.shape != self.text_table.shape:
            raise ValueError(f"text table must have shape {tuple(self.text_table.shape)}, got {tuple(table.shape)}")
        self.text_table = table.to(self.text_table.device, torch.float32).contiguous()

    @torch.no_grad()
    def read_by_text(self, text_only: torch.Tensor | None) -> None:
        """Read the items where ``text_only`` (n_items,) bool is True by their text alone from now on (None: every
        item by text + ID again). Their ID rows are zeroed as well, so heads saved after training read them by
        text even without this mask (a masked row gets no gradient and stays zero)."""
        if text_only is None or self.id_emb is None:
            self.has_id = None
            return
        if self.text_proj is None:
            raise ValueError("read_by_text needs a text side (tower.use_text is false)")
        if text_only.shape != self.text_table.shape[:1]:
            raise ValueError(f"text_only must have shape {tuple(self.text_table.shape[:1])}, got {tuple(text_only.shape)}")
        text_only = text_only.to(self.text_table.device, torch.bool)
        self.id_emb.weight[text_only] = 0.0
        self.has_id = ~text_only

    def forward(self, idx: torch.Tensor, text: torch.Tensor | None = None, candidates: bool = False,
                id_mask: torch.Tensor | None = None) -> torch.Tensor:
        """idx (...,) int64 -> (..., D). ``text`` (..., H) overrides the cached text rows when given;
        ``candidates``: vectors to score against (no dropout unless ``candidate_dropout``, no ID dropout unless
        that or ``candidate_id_dropout``); ``id_mask``
        (...,) bool: False where the item is represented by its text alone."""
        noisy = self.training and (self.cfg.candidate_dropout or not candidates)
        drop_ids = noisy or (self.training and self.cfg.candidate_id_dropout)
        out = 0.0
        if self.text_proj is not None:
            out = self.text_proj(self.text_table[idx] if text is None else text)
        if self.id_emb is not None:
            ids = self.id_emb(idx)
            if drop_ids and self.cfg.id_dropout > 0 and self.text_proj is not None:
                keep = torch.rand(idx.shape, device=idx.device) >= self.cfg.id_dropout
                ids = ids * keep.unsqueeze(-1)
            if id_mask is not None and self.text_proj is not None:
                ids = ids * id_mask.unsqueeze(-1)
            if self.has_id is not None:
                ids = ids * self.has_id[idx].unsqueeze(-1)
            out = out + ids
        out = self.ln(out)
        return self.dropout(out) if noisy else out


def text_projection(text_dim: int, d_model: int, layers: int) -> nn.Module:
    """H -> D: a linear map (``layers`` 1) or an MLP with GELU and hidden width 2·D."""
    if layers == 1:
        return nn.Linear(text_dim, d_model)
    mods: list[nn.Module] = [nn.Linear(text_dim, 2 * d_model)]
    for _ in range(layers - 2):
        mods += [nn.GELU(), nn.Linear(2 * d_model, 2 * d_model)]
    return nn.Sequential(*mods, nn.GELU(), nn.Linear(2 * d_model, d_model))


class SequenceEncoder(nn.Module):
    """Causal transformer over the domain-tagged merged history: (B, L, D) -> (B, L, D).

    Input per position: item vector + domain embedding (added by the caller) + learned absolute position
    (positions index the right-aligned window, as in SASRec). Output position p summarises items <= p.
    """

    def __init__(self, cfg: TowerConfig) -> None:
        super().__init__()
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.transformer = CausalTransformer(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.ffn_mult, cfg.dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        pos = self.pos_emb.weight[-L:]  # (L, D): the window is right-aligned
        return self.transformer(self.dropout(x + pos), valid)


class TargetInterestPooling(nn.Module):
    """Attention pooling over the target-domain items visible at each position.

    query_p = W_q h_p, keys/values = target item vectors at positions j <= p. Returns the pooled interest
    (B, L, D) and ``has_target`` (B, L) bool (False for a cold prefix with no target item: its interest is 0).
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.scale = d_model**-0.5

    def forward(
        self, h: torch.Tensor, item_vecs: torch.Tensor, is_target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        L = h.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=h.device).tril()
        mask = causal.unsqueeze(0) & is_target.unsqueeze(1)  # (B, Lq, Lk)
        has_target = mask.any(dim=-1)  # (B, L)
        scores = torch.einsum("bqd,bkd->bqk", self.q(h), self.k(item_vecs)) * self.scale
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.masked_fill(~has_target.unsqueeze(-1), 0.0), dim=-1)
        weights = weights * mask  # rows without targets become all-zero
        pooled = torch.einsum("bqk,bkd->bqd", weights, self.v(item_vecs))
        return pooled, has_target


class SubsequenceInterest(nn.Module):
    """A separate causal transformer over one subset of the history's items (the target domain's items, or the
    other domains' items for a separate source encoder), read at every merged position.

    The selected items of each row are packed to the right (order kept), encoded, and position p of the merged
    history gets the state after the latest selected item at or before p. ``forward(h, item_vecs, is_target)``
    (``h`` only gives the device; ``is_target`` (B, L) bool marks the selected items) returns (B, L, D) and
    ``has_target`` (B, L) bool; positions before the first selected item are 0.
    """

    def __init__(self, cfg: TowerConfig) -> None:
        super().__init__()
        self.encoder = SequenceEncoder(cfg)

    def forward(
        self, h: torch.Tensor, item_vecs: torch.Tensor, is_target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, L, D = item_vecs.shape
        order = torch.argsort(is_target.to(torch.int8), dim=1, stable=True)  # others first, targets last, in order
        n_target = is_target.sum(dim=1, keepdim=True)  # (B, 1)
        packed_valid = torch.arange(L, device=h.device).unsqueeze(0) >= (L - n_target)  # (B, L)
        packed = item_vecs.gather(1, order.unsqueeze(-1).expand(-1, -1, D)) * packed_valid.unsqueeze(-1)
        states = self.encoder(packed, packed_valid)  # (B, L, D)
        count = is_target.cumsum(dim=1)  # target items at or before each merged position
        has_target = count > 0
        at = (L - n_target + count - 1).clamp(min=0)  # packed position of the latest target item
        out = states.gather(1, at.unsqueeze(-1).expand(-1, -1, D)) * has_target.unsqueeze(-1)
        return out, has_target


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-8)
