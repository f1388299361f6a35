"""Fusion of transferred source interest ``s``, target interest ``t`` and domain signal ``d``.

All variants take (…, D) tensors plus ``has_target`` (…,) bool and return (…, D). A cold user (no target
history) has ``t = 0`` and ``has_target = False``: every variant then relies on ``s`` (and ``d``) only.
"""

from __future__ import annotations

import torch
from torch import nn

from crossrec.model.config import FusionConfig


class GateFusion(nn.Module):
    """u = g ⊙ s + (1 − g) ⊙ t with g = σ(MLP([s; t; d])) per dimension; g = 1 for cold users.

    The MLP's output bias starts at ``cfg.gate_bias`` (0: g ≈ 0.5; −3: g ≈ 0.05, the target interest first)."""

    def __init__(self, d_model: int, cfg: FusionConfig) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(3 * d_model, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, d_model)
        )
        if cfg.gate_bias:
            nn.init.constant_(self.gate[-1].bias, cfg.gate_bias)

    def forward(self, s: torch.Tensor, t: torch.Tensor, d: torch.Tensor, has_target: torch.Tensor) -> torch.Tensor:
        d = d.expand_as(s)
        g = torch.sigmoid(self.gate(torch.cat([s, t, d], dim=-1)))
        g = torch.where(has_target.unsqueeze(-1), g, torch.ones_like(g))
        return g * s + (1 - g) * t


class AttentionFusion(nn.Module):
    """u = Σ_k softmax_k(q·K_k / √D) V_k over the tokens {s, t, d}, query from d; t masked when cold."""

    def __init__(self, d_model: int, cfg: FusionConfig) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(d_model))
        self.q = nn.Linear(d_model, cfg.hidden)
        self.k = nn.Linear(d_model, cfg.hidden)
        self.v = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.scale = cfg.hidden**-0.5

    def forward(self, s: torch.Tensor, t: torch.Tensor, d: torch.Tensor, has_target: torch.Tensor) -> torch.Tensor:
        d = d.expand_as(s)
        tokens = torch.stack([s, t, d], dim=-2)  # (…, 3, D)
        q = self.q(self.query + d).unsqueeze(-2)  # (…, 1, hidden)
        scores = (q * self.k(tokens)).sum(-1) * self.scale  # (…, 3)
        mask = torch.stack([torch.ones_like(has_target), has_target, torch.ones_like(has_target)], dim=-1)
        weights = self.dropout(torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1))
        return s + (weights.unsqueeze(-1) * self.v(tokens)).sum(-2)


class SumFusion(nn.Module):
    """u = α s + (1 − α) t for users with target history, u = s for cold users (α from config)."""

    def __init__(self, d_model: int, cfg: FusionConfig) -> None:
        super().__init__()
        self.alpha = cfg.alpha

    def forward(self, s: torch.Tensor, t: torch.Tensor, d: torch.Tensor, has_target: torch.Tensor) -> torch.Tensor:
        mixed = self.alpha * s + (1 - self.alpha) * t
        return torch.where(has_target.unsqueeze(-1), mixed, s)


FUSIONS: dict[str, type[nn.Module]] = {"gate": GateFusion, "attention": AttentionFusion, "sum": SumFusion}


def build_fusion(d_model: int, cfg: FusionConfig) -> nn.Module:
    """The fusion module for ``cfg.variant`` (validated by the config's Literal type)."""
    return FUSIONS[cfg.variant](d_model, cfg)
