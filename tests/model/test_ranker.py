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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("native", [True, False])
def test_reduced_precision_items_rank_like_float32_copies(monkeypatch, dtype, native) -> None:
    """bf16/fp16 items: batches score through float32 slices on CPUs without native support, the native product
    elsewhere; either way the order is that of the float32 copy of the same items (cosine, exclusions, chunks)."""
    import crossrec.model.ranker as ranker_mod

    flags = {torch.bfloat16: "avx512_bf16", torch.float16: "avx512_fp16"}[dtype]
    monkeypatch.setattr(ranker_mod, "cpu_flags", lambda: frozenset({"avx2", flags} if native else {"avx2"}))
    g = torch.Generator().manual_seed(1)
    users, items = torch.randn(6, 16, generator=g), torch.randn(5000, 16, generator=g).to(dtype)
    assert ranker_mod.upcasts_for_batches(items) is not native
    exclude = [np.arange(i * 10) for i in range(6)]
    ranker = Ranker(normalize=True, temperature=0.5, chunk_size=3000)  # chunks cross the 2,048-row slices
    scores, idx = ranker.topk(users, items, k=20, exclude=exclude)
    want_s, want_i = ranker.topk(users, items.float(), k=20, exclude=exclude)
    tol = 2e-2 if native else 1e-5  # native: users in bf16/fp16 too; upcast: float32 users x exact item values
    assert torch.allclose(scores, want_s, atol=tol)
    if not native:
        assert torch.equal(idx, want_i)
    assert all(not set(row.tolist()) & set(ex.tolist()) for row, ex in zip(idx, exclude, strict=True))
    one_s, _ = ranker.topk(users[:1], items, k=20, exclude=exclude[:1])  # batch 1: the native product
    assert torch.allclose(one_s, want_s[:1], atol=2e-2)


def test_float32_items_never_upcast_and_integer_items_are_refused(monkeypatch) -> None:
    import crossrec.model.ranker as ranker_mod

    monkeypatch.setattr(ranker_mod, "cpu_flags", lambda: frozenset())
    assert not ranker_mod.upcasts_for_batches(torch.zeros(2, 2))
    assert ranker_mod.upcasts_for_batches(torch.zeros(2, 2, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="floating-point"):
        Ranker().topk(torch.randn(1, 4), torch.zeros(3, 4, dtype=torch.int8), k=1)
