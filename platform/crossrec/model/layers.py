"""Small building blocks: a pre-LayerNorm causal transformer that tolerates left padding.

Reference: Kang & McAuley, "Self-Attentive Sequential Recommendation" (SASRec, 2018); we use pre-LN
blocks (more stable with few layers) and `scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def causal_attention_mask(valid: torch.Tensor) -> torch.Tensor:
    """Boolean attention mask for left-padded sequences.

    Args:
        valid: (B, L) bool, True where a real item is.
    Returns:
        (B, 1, L, L) bool, True where query i may attend to key j: j <= i and j is valid. A padded query
        attends to itself only, so no row is empty (no NaN) — its output is ignored downstream.
    """
    B, L = valid.shape
    causal = torch.ones(L, L, dtype=torch.bool, device=valid.device).tril()  # (L, L)
    mask = causal.unsqueeze(0) & valid.unsqueeze(1)  # (B, L, L): key j valid
    eye = torch.eye(L, dtype=torch.bool, device=valid.device).unsqueeze(0)
    mask = mask | (eye & ~valid.unsqueeze(2))  # padded query -> itself
    return mask.unsqueeze(1)


class TransformerBlock(nn.Module):
    """Pre-LN block: x + MHA(LN(x)); x + FFN(LN(x)). Input/output (B, L, D)."""

    def __init__(self, d_model: int, n_heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_mult * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_mult * d_model, d_model),
        )
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)  # each (B, L, D)
        q, k, v = (t.view(B, L, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, H, L, D/H)
        x = x + self.dropout(self.proj(att.transpose(1, 2).reshape(B, L, D)))
        return x + self.dropout(self.ffn(self.ln2(x)))


class CausalTransformer(nn.Module):
    """Stack of :class:`TransformerBlock` with a final LayerNorm. (B, L, D) -> (B, L, D)."""

    def __init__(self, d_model: int, n_layers: int, n_heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, ffn_mult, dropout) for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        mask = causal_attention_mask(valid)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)
