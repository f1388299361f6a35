"""Interest transfer: ``Interest_tgt = Transfer(Interest_src, Domain_tgt)``.

A residual MLP conditioned on the learned embedding of the target domain (a FiLM-like mapping): the
cross-domain interest read from the merged history is moved into the target domain's interest space.
"""

from __future__ import annotations

import torch
from torch import nn


class DomainTransfer(nn.Module):
    """(…, D) source interest, (…, D) target-domain embedding -> (…, D) transferred interest."""

    def __init__(self, d_model: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * d_model, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_model)
        )
        self.ln = nn.LayerNorm(d_model)

    def forward(self, interest_src: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        domain = domain.expand_as(interest_src)
        return self.ln(interest_src + self.mlp(torch.cat([interest_src, domain], dim=-1)))
