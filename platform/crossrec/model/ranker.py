"""Top-k ranking of users against a whole catalogue: cosine or dot product, exclusions, memory-bounded chunks.

``topk`` never materialises more than (B, chunk_size) scores when ``chunk_size`` is set, so a 1M-item
catalogue ranks at batch 64 in bounded memory: each chunk keeps its top-k, and one final top-k over the
(B, chunks x k) candidates gives the answer.

Cost: one pass over the item matrix per call (a (B, D) x (D, N) product; memory-bound at batch 1, so batch
64 costs far less than 64 batch-1 calls). Cosine never copies the item matrix: the items' inverse norms (N,)
are computed once per item tensor (cached while that tensor is alive and unmodified) and scale the scores.
A bfloat16 (or float16) item matrix halves the bytes read per call (batch 1: 98 vs 129 ms at 1M items on an
AVX2 core) at bf16 precision of the items; float32 is exact. A CPU without native bf16/fp16 dot products
(no AVX512-BF16 / AMX; most AVX2 machines) has no fast reduced-precision GEMM: its cost grows linearly with
the batch (1M items at batch 64: 5.75 s). There, batches of 2+ users score 2,048-row slices upcast to float32
(0.91 s), which reads the same bytes and runs float32's GEMM; batch 1 keeps the native product.
Figures: docs/results/performance.md (bench/ranker_scaling.py, 1 thread).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-12  # as F.normalize
_INV_NORMS: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}
_INV_NORMS_MAX = 8
_NORM_BLOCK = 65536
_UPCAST_ROWS = 2048  # float32 slice of a reduced-precision block: 3 MB at D=384, stays in cache
_NATIVE_CPU_FLAGS = {torch.bfloat16: ("avx512_bf16", "amx_bf16"), torch.float16: ("avx512_fp16", "amx_fp16")}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere), read once per process."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def upcasts_for_batches(items: torch.Tensor) -> bool:
    """Whether batches of 2+ users score ``items`` in float32 slices: reduced-precision items on a CPU whose
    flags show no native dot product for that dtype (GPUs and float32 items: False)."""
    if items.dtype == torch.float32 or items.device.type != "cpu":
        return False
    return not any(flag in cpu_flags() for flag in _NATIVE_CPU_FLAGS.get(items.dtype, ()))


def _block_scores(users: torch.Tensor, block: torch.Tensor, upcast: bool) -> torch.Tensor:
    """users (B, D) x block (C, D) -> float32 scores (B, C); ``upcast``: float32 users against float32 copies
    of ``_UPCAST_ROWS``-row slices of a reduced-precision block (no full-block float32 copy)."""
    if not upcast:
        return (users.to(block.dtype) @ block.T).float()  # no-op casts for float32
    scores = torch.empty(users.shape[0], block.shape[0], dtype=torch.float32, device=block.device)
    for start in range(0, block.shape[0], _UPCAST_ROWS):
        scores[:, start : start + _UPCAST_ROWS] = users @ block[start : start + _UPCAST_ROWS].float().T
    return scores


def inverse_norms(items: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N,) 1 / max(||item||, eps), cached per live, unmodified tensor (keyed by identity + version)."""
    key = id(items)
    hit = _INV_NORMS.get(key)
    if hit is not None and hit[0]() is items and hit[1] == items._version:
        return hit[2]
    inv = torch.empty(items.shape[0], dtype=torch.float32, device=items.device)
    for start in range(0, items.shape[0], _NORM_BLOCK):  # block-wise: no float32 copy of a bf16 matrix
        inv[start : start + _NORM_BLOCK] = torch.linalg.vector_norm(items[start : start + _NORM_BLOCK].float(), dim=1)
    inv.clamp_min_(_EPS).reciprocal_()
    for k in [k for k, (ref, _, _) in _INV_NORMS.items() if ref() is None]:
        del _INV_NORMS[k]
    if len(_INV_NORMS) >= _INV_NORMS_MAX:
        _INV_NORMS.pop(next(iter(_INV_NORMS)))
    _INV_NORMS[key] = (weakref.ref(items), items._version, inv)
    return inv


def _exclusion_pairs(exclude: Sequence[np.ndarray] | None, batch: int,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-user excluded columns -> (rows (E,), cols (E,)) int64, or None when nothing is excluded."""
    if exclude is None:
        return None
    if len(exclude) != batch:
        raise ValueError(f"exclude must have one entry per user ({batch}), got {len(exclude)}")
    cols = [np.asarray(e, dtype=np.int64).ravel() for e in exclude]
    sizes = [c.size for c in cols]
    if not sum(sizes):
        return None
    rows = np.repeat(np.arange(batch, dtype=np.int64), sizes)
    return torch.from_numpy(rows).to(device), torch.from_numpy(np.concatenate(cols)).to(device)


class Ranker:
    """Scores ``users (B, D)`` against ``items (N, D)``; returns the top-k allowed items per user.

    Args:
        normalize: cosine instead of raw dot product.
        temperature: scores are divided by it (positive; does not change the order).
        chunk_size: items scored at a time (None: all at once).
        upcast: batches of 2+ users against bf16/fp16 items score float32 slices (True) or use the native
            reduced-precision product (False); None picks by the CPU (:func:`upcasts_for_batches`).
    """

    def __init__(self, normalize: bool = True, temperature: float = 1.0, chunk_size: int | None = None,
                 upcast: bool | None = None) -> None:
        self.normalize = normalize
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.upcast = upcast

    def scores_in_float32_slices(self, batch: int, items: torch.Tensor) -> bool:
        """Whether a call with ``batch`` users against ``items`` takes the float32-slice path."""
        if batch < 2 or items.dtype == torch.float32:
            return False
        return upcasts_for_batches(items) if self.upcast is None else self.upcast

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
        if not items.is_floating_point():
            raise ValueError(f"items must be a floating-point matrix (float32, bfloat16, float16), got {items.dtype}")
        upcast = self.scores_in_float32_slices(users.shape[0], items)
        users = users.float() if upcast else users.to(items.dtype)
        inv = None
        if self.normalize:
            users, inv = F.normalize(users, dim=-1), inverse_norms(items)
        n = items.shape[0]
        k = min(k, n)
        pairs = _exclusion_pairs(exclude, users.shape[0], users.device)
        chunk = self.chunk_size or n
        cand_s, cand_i = [], []
        for start in range(0, n, chunk):
            block = items[start : start + chunk]  # (C, D) rows: the (B, D) x (D, C) product reads it once
            scores = _block_scores(users, block, upcast)  # (B, C) float32
            if inv is not None:
                scores.mul_(inv[start : start + block.shape[0]])
            if pairs is not None:
                inside = (pairs[1] >= start) & (pairs[1] < start + block.shape[0])
                scores[pairs[0][inside], pairs[1][inside] - start] = float("-inf")
            s, i = scores.topk(min(k, block.shape[0]), dim=1)
            cand_s.append(s)
            cand_i.append(i + start)
        best_s, best_i = (cand_s[0], cand_i[0]) if len(cand_s) == 1 else _merge(cand_s, cand_i, k)
        best_s = best_s.float() / self.temperature
        best_i = torch.where(torch.isinf(best_s), torch.full_like(best_i, -1), best_i)
        return best_s, best_i


def _merge(cand_s: list[torch.Tensor], cand_i: list[torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-chunk (B, k_c) candidates -> the overall (B, k) best, best first."""
    s, order = torch.cat(cand_s, 1).topk(k, dim=1)
    return s, torch.cat(cand_i, 1).gather(1, order)
