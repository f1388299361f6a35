"""The crossrec user/item model for one target domain T (plain PyTorch).

    history (items, domains) ─► ItemTower ─► + domain emb ─► SequenceEncoder ─► Interest_src (B, L, D)
                                                     │                     └─► Transfer(·, e_T) ─► s
                                                     └─► TargetInterestPooling over T items ─► t, has_t
    Fusion(s, t, e_T, has_t) ─► u (B, L, D);   score(u, v_j) = cos(u, v_j) / τ  for every j in T.

Training is dense next-item prediction in T: the output at every history position is scored against the
full catalogue of T (softmax cross-entropy) for the next T item after that position. Items that training must not
know (hidden by an item-cold-start split, :meth:`CrossRecModel.exclude_from_training`) are left out of both
softmaxes, as if they were not in the catalogue yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crossrec.data.history import readable, usable_rows
from crossrec.data.windows import IGNORE_LABEL
from crossrec.errors import ModelInputError
from crossrec.model.config import ModelConfig
from crossrec.model.fusion import build_fusion
from crossrec.model.towers import (
    ItemTower,
    SequenceEncoder,
    SubsequenceInterest,
    TargetInterestPooling,
    l2_normalize,
)
from crossrec.model.transfer import DomainTransfer

__all__ = ["IGNORE_LABEL", "CrossRecModel", "Interests"]


@dataclass
class Interests:
    """Per-position interests; every tensor is (B, L, D) except ``has_target`` (B, L) bool."""

    source: torch.Tensor  # transferred source interest s = Transfer(Interest_src, e_T)
    target: torch.Tensor  # pooled target-domain interest t (0 where has_target is False)
    domain: torch.Tensor  # target-domain embedding e_T, broadcast (1, 1, D)
    has_target: torch.Tensor
    valid: torch.Tensor  # (B, L) bool: positions holding an item the model reads
    hidden: torch.Tensor | None = None  # (B, L, D) sequence-encoder output before the transfer

    def last(self) -> Interests:
        """The interests at the last (most recent) position: tensors (B, 1, D)."""
        hidden = self.hidden[:, -1:] if self.hidden is not None else None
        return Interests(
            self.source[:, -1:], self.target[:, -1:], self.domain, self.has_target[:, -1:], self.valid[:, -1:], hidden
        )


class CrossRecModel(nn.Module):
    """Heads for one target domain.

    Args:
        cfg: model configuration.
        item_domain: (N+1,) int64 domain index of every item (0 = padding); domains are 1-based.
        n_domains: number of domains (domain indices 1..n_domains).
        target_domain: 1-based index of T.
        text_dim: backbone hidden size H.
    """

    def __init__(
        self, cfg: ModelConfig, item_domain: torch.Tensor, n_domains: int, target_domain: int, text_dim: int
    ) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.tower.d_model
        n_items = int(item_domain.shape[0])
        self.target_domain = int(target_domain)
        self.register_buffer("item_domain", item_domain.long().clone(), persistent=False)
        catalogue = torch.nonzero(item_domain == target_domain).flatten()  # (N_T,)
        if catalogue.numel() == 0:
            raise ModelInputError(f"target domain index {target_domain} has no items")
        position = torch.full((n_items,), -1, dtype=torch.long)
        position[catalogue] = torch.arange(catalogue.numel())
        self.register_buffer("catalogue", catalogue, persistent=False)
        self.register_buffer("catalogue_position", position, persistent=False)
        self.register_buffer("excluded", None, persistent=False)  # (N+1,) bool: not in the training softmaxes

        self.item_tower = ItemTower(n_items, text_dim, cfg.tower)
        self.domain_emb = nn.Embedding(n_domains + 1, d, padding_idx=0)
        # the source interest reads the merged history in order (shared encoder), or the other domains' items alone
        self.encoder = (SequenceEncoder(cfg.tower) if cfg.tower.source_encoder == "merged"
                        else SubsequenceInterest(cfg.tower))
        self.target_pool = (SubsequenceInterest(cfg.tower) if cfg.tower.target_encoder == "sequence"
                            else TargetInterestPooling(d))
        self.transfer = DomainTransfer(d, cfg.fusion.hidden, cfg.fusion.dropout)
        self.fusion = build_fusion(d, cfg.fusion)
        self.out_ln = nn.LayerNorm(d)

    @property
    def history_window(self) -> int | None:
        """How many of the latest merged-history items to hand the model: ``tower.max_len``, or None (the
        whole history) when it reads target items only, so that its last ``max_len`` target items reach it."""
        return self.cfg.tower.max_len if self.cfg.fusion.transfer else None

    @property
    def only_domain(self) -> int | None:
        """The one domain whose items the model reads (T, when ``fusion.transfer`` is off), else None."""
        return None if self.cfg.fusion.transfer else self.target_domain

    def usable_rows(self, items: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """(B,) bool: rows of a (B, L) history batch holding an item the model reads (others need a fallback)."""
        return usable_rows(items, domains, self.only_domain)

    @property
    def n_catalogue(self) -> int:
        return int(self.catalogue.numel())

    def exclude_from_training(self, items: torch.Tensor | None) -> None:
        """Leave the items where ``items`` (N+1,) bool is True out of the training softmaxes (no negative, never a
        label: training windows must not hold them); None restores the full catalogue. Scoring is unaffected."""
        if items is not None and items.shape != self.item_domain.shape:
            raise ModelInputError(f"excluded items must have shape {tuple(self.item_domain.shape)}, got {tuple(items.shape)}")
        self.excluded = None if items is None or not bool(items.any()) else items.to(self.item_domain.device, torch.bool)

    # ---------------------------------------------------------------- users
    def encode_interests(self, items: torch.Tensor, domains: torch.Tensor,
                         item_vecs: torch.Tensor | None = None) -> Interests:
        """items, domains: (B, L) int64, left-padded with 0. Returns per-position :class:`Interests`.

        ``item_vecs`` (B, L, D): the item vectors of these positions when the caller built them itself (items
        represented by request-time text, :mod:`crossrec.model.open_items`); ``items`` then only marks the
        valid positions, and the caller has applied the target-only rule already."""
        if not self.cfg.fusion.transfer:
            items, domains, _ = self._target_only(items, domains)
        items = items[:, -self.cfg.tower.max_len :]
        domains = domains[:, -self.cfg.tower.max_len :]
        is_target = (domains == self.target_domain) & (items > 0)
        valid = items > 0
        id_mask = None if self.cfg.tower.source_item_ids else is_target
        if item_vecs is None:
            item_vecs = self.item_tower(items, id_mask=id_mask)  # (B, L, D)
        else:
            item_vecs = item_vecs[:, -items.shape[1] :]
        x = item_vecs + self.domain_emb(domains)
        if isinstance(self.encoder, SubsequenceInterest):
            h, has_source = self.encoder(x, x, valid & ~is_target)  # (B, L, D): the latest source state
        else:
            h, has_source = self.encoder(x, valid), valid.cumsum(dim=1) > 0  # (B, L, D)
        e_t = self.domain_emb.weight[self.target_domain].view(1, 1, -1)
        t, has_t = self.target_pool(h, item_vecs, is_target)
        s = self.transfer(h, e_t)
        s = s * has_source.unsqueeze(-1)  # no information before the first item the source side reads
        return Interests(source=s, target=t, domain=e_t, has_target=has_t, valid=valid, hidden=h)

    def _target_only(
        self, items: torch.Tensor, domains: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Drop non-target items and re-left-pad, order kept (the no-transfer ablation's input).
        Idempotent; ``labels`` (B, L), when given, move with their positions."""
        keep = readable(items, domains, self.target_domain)
        order = torch.argsort(keep.to(torch.int8), dim=1, stable=True)  # dropped first, kept last
        items = torch.where(keep, items, 0).gather(1, order)
        domains = torch.where(items > 0, domains.gather(1, order), 0)
        if labels is not None:
            labels = torch.where(keep, labels, IGNORE_LABEL).gather(1, order)
        return items, domains, labels

    def fuse(self, interests: Interests) -> torch.Tensor:
        """(…, D) fused user vectors from :class:`Interests`. In training, ``fusion.source_dropout`` of the
        positions with target history fuse the target interest in place of the source interest."""
        source = interests.source
        rate = self.cfg.fusion.source_dropout
        if self.training and rate > 0:
            drop = (torch.rand(interests.has_target.shape, device=source.device) < rate) & interests.has_target
            source = torch.where(drop.unsqueeze(-1), interests.target, source)
        u = self.fusion(source, interests.target, interests.domain, interests.has_target)
        return self.out_ln(u)

    def user_vectors(self, items: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """(B, L) history -> (B, D) user vector at the most recent position.

        Raises ModelInputError when a row has no usable history (serving decides the fallback).
        """
        if items.ndim != 2 or items.shape != domains.shape:
            raise ModelInputError(f"items and domains must both be (B, L), got {tuple(items.shape)} and {tuple(domains.shape)}")
        empty = ~self.usable_rows(items, domains)
        if bool(empty.any()):
            rows = torch.nonzero(empty).flatten().tolist()[:5]
            raise ModelInputError(f"no usable history for batch rows {rows}: at least one known item is required")
        last = self.encode_interests(items, domains).last()
        return self.query(self.fuse(last), last.hidden).squeeze(1)

    def query(self, u: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """(…, D) ranking query from the fused interest ``u`` and the encoder output ``hidden`` (…, D).

        Cosine scoring: ``û + w·ĥ`` (unit vectors, ``w = fusion.next_item_mix``), so that
        ``logits(query, items) = cos(u, v)/τ + w·cos(h, v)/τ``; dot scoring: ``u + w·h``. Either way one
        dot product against the item vectors ranks, so the Ranker and the serving path need no change.
        """
        w = self.cfg.fusion.next_item_mix
        q = self._plain_query(u)
        return q + w * self._plain_query(hidden) if w > 0 else q

    def _plain_query(self, x: torch.Tensor) -> torch.Tensor:
        """(…, D) -> the query of ``x`` alone (unit vector for cosine scoring)."""
        return l2_normalize(x) if self.cfg.fusion.score == "cosine" else x

    @property
    def ranks_by_cosine(self) -> bool:
        """True when item vectors are compared by cosine (the Ranker normalises); False for dot products."""
        return self.cfg.fusion.score == "cosine"

    # ---------------------------------------------------------------- items
    def catalogue_vectors(self, live_rows: torch.Tensor | None = None, live_text: torch.Tensor | None = None) -> torch.Tensor:
        """(N_T, D) item vectors of T. ``live_text`` (G, H) replaces the cached text of catalogue rows
        ``live_rows`` (G,) so gradient flows into the adapter that produced it."""
        text = None
        if live_rows is not None and live_text is not None and live_rows.numel():
            text = self.item_tower.text_table[self.catalogue].index_copy(0, live_rows, live_text.float())
        return self.item_tower(self.catalogue, text, candidates=True)

    def scores(self, queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of queries (…, D) (from :meth:`user_vectors` / :meth:`query`) against items (N, D) -> (…, N):
        ``q · v̂ / τ`` for cosine scoring (the query is already built from unit vectors), ``q · v`` for dot."""
        if self.cfg.fusion.score == "cosine":
            return (queries / self.cfg.fusion.temperature) @ l2_normalize(items).T  # scale (…, D), not (…, N)
        return queries @ items.T

    def score_catalogue(self, items: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """(B, L) histories -> (B, N_T) scores over T's catalogue (no exclusion applied)."""
        return self.scores(self.user_vectors(items, domains), self.catalogue_vectors())

    # ---------------------------------------------------------------- training
    def loss(
        self,
        items: torch.Tensor,
        domains: torch.Tensor,
        labels: torch.Tensor,
        live_rows: torch.Tensor | None = None,
        live_text: torch.Tensor | None = None,
        next_items: torch.Tensor | None = None,
        next_item_weight: float = 0.0,
        next_item_positions: int | None = None,
        target_positions: int | None = None,
    ) -> torch.Tensor:
        """Dense next-T-item softmax cross-entropy, plus (optionally) the merged next-item objective.

        items, domains: (B, L) int64; labels: (B, L) catalogue positions of the next T item after each
        position, ``IGNORE_LABEL`` where there is none. ``next_items`` (B, L): the item index of the next item
        in *any* domain (or ``IGNORE_LABEL``); with ``next_item_weight`` > 0 the sequence encoder's output is
        also trained to predict it over every domain's items (full softmax, SASRec's objective on the merged
        history), which gives the shared encoder far more signal than the T items alone. Ignored when the
        model reads target items only (``fusion.transfer`` false). ``next_item_positions`` caps how many
        (random) positions that auxiliary softmax over all items is computed for; ``target_positions`` does
        the same for the target softmax (positions between two target items share a label). Returns a scalar.
        """
        if not self.cfg.fusion.transfer:
            items, domains, labels = self._target_only(items, domains, labels)
            next_item_weight = 0.0
        interests = self.encode_interests(items, domains)
        u = self.fuse(interests)  # (B, L, D)
        labels = labels[:, -u.shape[1] :]
        keep = (labels != IGNORE_LABEL) & interests.valid
        loss = u.sum() * 0.0
        if bool(keep.any()):
            q, y = self.query(u[keep], interests.hidden[keep]), labels[keep]  # (M, D), (M,)
            if target_positions is not None and y.shape[0] > target_positions:
                pick = torch.randperm(y.shape[0], device=y.device)[:target_positions]
                q, y = q[pick], y[pick]
            logits = self.scores(q, self.catalogue_vectors(live_rows, live_text))  # (M, N_T)
            if self.excluded is not None:
                logits = logits.masked_fill(self.excluded[self.catalogue], float("-inf"))
            loss = F.cross_entropy(logits, y)
        if next_items is not None and next_item_weight > 0:
            aux = self.next_item_loss(interests, next_items[:, -u.shape[1] :], next_item_positions)
            loss = loss + next_item_weight * aux
        return loss

    def next_item_loss(
        self, interests: Interests, next_items: torch.Tensor, max_positions: int | None = None
    ) -> torch.Tensor:
        """Full-softmax next-item cross-entropy over all N items from the encoder output (B, L, D);
        ``next_items`` (B, L) item indices or ``IGNORE_LABEL``; at most ``max_positions`` random positions
        (the softmax over every item costs M x N). Returns a scalar (0 when nothing to predict)."""
        keep = (next_items != IGNORE_LABEL) & interests.valid
        if not bool(keep.any()):
            return interests.hidden.sum() * 0.0
        hidden, labels = interests.hidden[keep], next_items[keep]  # (M, D), (M,)
        if max_positions is not None and labels.shape[0] > max_positions:
            pick = torch.randperm(labels.shape[0], device=labels.device)[:max_positions]
            hidden, labels = hidden[pick], labels[pick]
        every = self.item_tower(torch.arange(self.item_domain.shape[0], device=next_items.device),
                                candidates=True)  # (N+1, D)
        logits = self.scores(self._plain_query(hidden), every)  # (M, N+1)
        logits[:, 0] = float("-inf")  # padding is never a next item
        if self.excluded is not None:
            logits = logits.masked_fill(self.excluded, float("-inf"))
        return F.cross_entropy(logits, labels)
