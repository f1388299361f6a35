"""Top-k ranking of users against a whole catalogue: dot product, exclusions, memory-bounded chunks.

``topk`` never materialises more than (B, chunk_size) scores when ``chunk_size`` is set, so a 1M-item
catalogue ranks at batch 64 in bounded memory: each chunk's top-k is merged into a running top-k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def _exclusion_rows(exclude: Sequence[np.ndarray] | None, batch: int) -> list[torch.Tensor]:
    if exclude is None:
        return []
    if len(exclude) != batch:
        raise ValueError(f"exclude must have one entry per user ({batch}), got {len(exclude)}")
    return [torch.as_tensor(np.asarray(e, dtype=np.int64)) for e in exclude]


class Ranker:
    """Scores ``users (B, D)`` against ``items (N, D)``; returns the top-k allowed items per user.

    Args:
        normalize: cosine instead of raw dot product.
        temperature: scores are divided by it (does not change the order).
        chunk_size: items scored at a time (None: all at once).
    """

    def __init__(self, normalize: bool = True, temperature: float = 1.0, chunk_size: int | None = None) -> None:
        self.normalize = normalize
        self.temperature = temperature
        self.chunk_size = chunk_size

    @torch.no_grad()
    def topk(self, users: torch.Tensor, items: torch.Tensor, k: int,
             exclude: Sequence[np.ndarray] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (scores (B, k'), indices (B, k')) with k' = min(k, N), best first.

        Excluded items score -inf; when fewer than k' items are allowed, the tail has score -inf and
        index -1.
        """
        if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
            raise ValueError(f"users (B, D) and items (N, D) must share D, got {tuple(users.shape)} and {tuple(items.shape)}")
        if k < 1:
            raise ValueError(f"k should be positive, got {k}")
        if self.normalize:
            users, items = F.normalize(users, dim=-1), F.normalize(items, dim=-1)
        n = items.shape[0]
        k = min(k, n)
        rows = _exclusion_rows(exclude, users.shape[0])
        chunk = self.chunk_size or n
        best_s = torch.full((users.shape[0], 0), float("-inf"), device=users.device)
        best_i = torch.zeros((users.shape[0], 0), dtype=torch.long, device=users.device)
        for start in range(0, n, chunk):
            scores = users @ items[start : start + chunk].T / self.temperature  # (B, C)
            for b, ex in enumerate(rows):
                local = ex[(ex >= start) & (ex < start + scores.shape[1])] - start
                scores[b, local.to(scores.device)] = float("-inf")
            s, i = scores.topk(min(k, scores.shape[1]), dim=1)
            best_s, order = torch.cat([best_s, s], 1).topk(min(k, best_s.shape[1] + s.shape[1]), dim=1)
            best_i = torch.cat([best_i, i + start], 1).gather(1, order)
        best_i = torch.where(torch.isinf(best_s), torch.full_like(best_i, -1), best_i)
        return best_s, best_i
