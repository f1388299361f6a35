"""Ranker: exact against brute force, exclusions, chunking, k larger than the allowed items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossrec.model.ranker import Ranker


@pytest.mark.parametrize("chunk", [None, 7, 64])
def test_topk_matches_brute_force_with_exclusions(chunk) -> None:
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(5, 8, generator=g), torch.randn(100, 8, generator=g)
    exclude = [np.array([0, 1, 2]), np.array([], dtype=np.int64), np.array([99]), np.arange(50), np.array([5])]
    scores, idx = Ranker(normalize=False, chunk_size=chunk).topk(users, items, k=10, exclude=exclude)
    full = users @ items.T
    for b, ex in enumerate(exclude):
        full[b, torch.as_tensor(ex, dtype=torch.long)] = float("-inf")
    want_s, want_i = full.topk(10, dim=1)
    assert torch.equal(idx, want_i)
    assert torch.allclose(scores, want_s)
    assert scores.shape == (5, 10) and idx.dtype == torch.long


def test_k_beyond_allowed_items_pads_with_minus_one() -> None:
    users, items = torch.randn(1, 4), torch.randn(3, 4)
    scores, idx = Ranker(chunk_size=2).topk(users, items, k=5, exclude=[np.array([1])])
    assert idx.shape == (1, 3)  # k' = min(k, N)
    assert sorted(idx[0, :2].tolist()) == [0, 2] and idx[0, 2].item() == -1
    assert torch.isinf(scores[0, 2])


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="share D"):
        Ranker().topk(torch.randn(1, 4), torch.randn(3, 5), k=1)
    with pytest.raises(ValueError, match="k should be positive, got 0"):
        Ranker().topk(torch.randn(1, 4), torch.randn(3, 4), k=0)
