"""Approximate top-k (ANN) over a target's catalogue: a FAISS index fetches candidates, exact math ranks them.

:meth:`AnnIndex.search` asks the index for ``candidates * k + max excluded`` columns per user, drops the
user's excluded (seen) columns exactly, then re-scores the survivors against the item vectors with the
Ranker's own score (cosine or dot product, divided by the temperature), so a returned item's score equals
its exact :meth:`crossrec.model.ranker.Ranker.topk` score; only *which* items are found is approximate.
Defaults were chosen by measurement (bench/ranker_ann.py, docs/results/ranker_ann.md).
faiss is optional (``pip install 'crossrec[ann]'``) and imported only when an index is built or loaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from crossrec.config import StrictModel
from crossrec.errors import BundleError, ConfigError
from crossrec.utils.extras import require
from crossrec.utils.io import atomic_write_bytes, atomic_write_json

_EPS = 1e-12  # as the Ranker (F.normalize)


def _faiss() -> Any:
    return require("faiss", "ANN top-k")


class AnnConfig(StrictModel):
    """Which ANN index to build and how hard it searches. Defaults by measurement (64-d, 1 thread, top-10 with
    50 exclusions; docs/results/ranker_ann.md): IVF reaches recall@10 1.0 at 15x less batch-1 latency than
    exact on 1M resampled real catalogue vectors (HNSW: 0.99 at 21x) with a 4x faster build and half the
    memory; HNSW is the better choice for weakly clustered vectors, where IVF's recall falls below 0.9."""

    kind: Literal["hnsw", "ivf"] = Field("ivf", description="ivf: inverted lists over k-means cells (fast "
                                         "build); hnsw: graph (slower build, 2x memory, robust on weak clusters).")
    m: int = Field(32, ge=4, le=128, description="HNSW: graph neighbours per item (memory ~ 8*m bytes/item).")
    ef_construction: int = Field(40, ge=8, le=2048, description="HNSW: candidate list while building.")
    ef_search: int = Field(256, ge=8, le=4096, description="HNSW: candidate list while searching "
                           "(raised to the number of candidates fetched when that is larger).")
    nlist: int | Literal["auto"] = Field("auto", description="IVF: k-means cells; auto: 4*sqrt(N), at most N/39.")
    nprobe: int = Field(128, ge=1, le=65536, description="IVF: cells scanned per query.")
    candidates: int = Field(4, ge=1, le=100, description="Fetch candidates*k (+ the user's excluded items) "
                            "from the index; all are re-scored exactly.")

    def cells(self, n: int) -> int:
        """IVF cell count for ``n`` items (k-means needs ~39 training points per cell)."""
        want = int(round(4 * n**0.5)) if self.nlist == "auto" else self.nlist
        return max(1, min(want, n // 39))


class AnnIndex:
    """ANN index over item vectors ``items (N, D)`` float32; ``normalize``: cosine (inner product of unit rows)."""

    def __init__(self, index: Any, items: np.ndarray, cfg: AnnConfig, normalize: bool) -> None:
        self.index, self.cfg, self.normalize = index, cfg, normalize
        self.items = np.ascontiguousarray(items, dtype=np.float32)  # (N, D), no copy when float32
        norms = np.linalg.norm(self.items, axis=1) if normalize else None
        self.inv_norms = None if norms is None else (1.0 / np.maximum(norms, _EPS)).astype(np.float32)  # (N,)
        self.tune()

    @property
    def n(self) -> int:
        return self.items.shape[0]

    @property
    def dim(self) -> int:
        return self.items.shape[1]

    def tune(self, **search: Any) -> AnnIndex:
        """Apply search-time settings (``ef_search``, ``nprobe``, ``candidates``; none: the config's) without
        rebuilding; validated like the config (ConfigError). Returns self."""
        if set(search) - {"ef_search", "nprobe", "candidates"}:
            raise ConfigError(f"only search-time settings can change after a build, got {sorted(search)}")
        if search:
            self.cfg = AnnConfig.from_dict({**self.cfg.model_dump(), **search}, source="AnnIndex.tune")
        faiss = _faiss()
        if self.cfg.kind == "hnsw":
            faiss.downcast_index(self.index).hnsw.efSearch = self.cfg.ef_search
        else:
            faiss.extract_index_ivf(self.index).nprobe = self.cfg.nprobe
        return self

    @classmethod
    def build(cls, vectors: np.ndarray, cfg: AnnConfig | None = None, normalize: bool = True) -> AnnIndex:
        """Index ``vectors (N, D)`` (rows L2-normalised first when ``normalize``; inner-product metric)."""
        faiss, cfg = _faiss(), cfg or AnnConfig()
        items = np.ascontiguousarray(vectors, dtype=np.float32)
        if items.ndim != 2 or items.shape[0] < 1:
            raise ValueError(f"vectors must be a non-empty (N, D) matrix, got shape {items.shape}")
        data = items / np.maximum(np.linalg.norm(items, axis=1, keepdims=True), _EPS) if normalize else items
        n, d = items.shape
        if cfg.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, cfg.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = cfg.ef_construction
        else:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cfg.cells(n), faiss.METRIC_INNER_PRODUCT)
            index.cp.niter, index.cp.max_points_per_centroid = 10, 64  # k-means on <= 64 points/cell: seconds
            index.train(data)
        index.add(data)
        return cls(index, items, cfg, normalize)

    def search(self, queries: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None = None,
               temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """``queries (B, D)`` -> (scores (B, k') float32, cols (B, k') int64), k' = min(k, N), best first.

        Scores are the Ranker's (cosine or dot, / ``temperature``); ``exclude[b]`` columns are never
        returned; when fewer than k' candidates survive, the tail is score -inf and column -1.
        """
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must be (B, {self.dim}), got shape {q.shape}")
        if k < 1:
            raise ValueError(f"k should be positive, got {k}")
        if exclude is not None and len(exclude) != q.shape[0]:
            raise ValueError(f"exclude must have one entry per user ({q.shape[0]}), got {len(exclude)}")
        k = min(k, self.n)
        if self.normalize:
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), _EPS)
        excl = [np.asarray(e, dtype=np.int64).ravel() for e in exclude] if exclude is not None else None
        fetch = min(self.n, self.cfg.candidates * k + max((e.size for e in excl or ()), default=0))  # >= k
        _, cols = self.index.search(q, fetch)  # (B, F) int64, -1 where the index found fewer
        valid = cols >= 0
        if excl is not None:
            for b, e in enumerate(excl):
                if e.size:
                    valid[b] &= ~np.isin(cols[b], e)
        safe = np.where(valid, cols, 0)
        scores = np.einsum("bfd,bd->bf", self.items[safe], q)  # (B, F): exact dot, as the Ranker
        if self.inv_norms is not None:
            scores *= self.inv_norms[safe]
        scores = np.where(valid, scores, -np.inf).astype(np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_s = np.take_along_axis(scores, order, 1) / np.float32(temperature)
        top_c = np.where(np.isinf(top_s), -1, np.take_along_axis(cols, order, 1)).astype(np.int64)
        return top_s.astype(np.float32), top_c

    @cached_property
    def memory_bytes(self) -> int:
        """Bytes of the FAISS index (its serialised size; the item vectors it re-scores against are not counted)."""
        return int(_faiss().serialize_index(self.index).size)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (FAISS binary format) and ``path.json`` (config, N, D, normalize), each atomically."""
        path = Path(path)
        data = _faiss().serialize_index(self.index)
        self.__dict__["memory_bytes"] = int(data.size)
        atomic_write_bytes(path, data.tobytes())
        atomic_write_json(sidecar(path), {"config": self.cfg.model_dump(mode="json"), "n_items": self.n,
                                          "dim": self.dim, "normalize": self.normalize})
        return path

    @classmethod
    def load(cls, path: str | Path, vectors: np.ndarray | None = None, expect_n: int | None = None,
             expect_d: int | None = None) -> AnnIndex:
        """Read an index written by :meth:`save`. ``vectors (N, D)``: the item vectors to re-score against
        (None: reconstructed from the index, unit rows when normalised). Raises BundleError naming the file
        on a corrupted index or sidecar, or N/D other than ``expect_n``/``expect_d`` (or ``vectors``')."""
        faiss, path = _faiss(), Path(path)
        try:
            meta = json.loads(sidecar(path).read_text())
            cfg = AnnConfig.from_dict(meta["config"], source=str(sidecar(path)))
            n, d, normalize = int(meta["n_items"]), int(meta["dim"]), bool(meta["normalize"])
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as err:
            raise BundleError(f"{sidecar(path)}: unreadable ANN index sidecar ({err})") from None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as err:
            raise BundleError(f"{path}: unreadable FAISS index ({str(err).strip().splitlines()[-1]})") from None
        if vectors is not None:
            expect_n, expect_d = expect_n or vectors.shape[0], expect_d or vectors.shape[1]
        for what, want, got in (("items", expect_n, n), ("dim", expect_d, d), ("index items", n, index.ntotal),
                                ("index dim", d, index.d)):
            if want is not None and want != got:
                raise BundleError(f"{path}: ANN index has {what} {got}, expected {want} (stale or corrupted)")
        hnsw = isinstance(faiss.downcast_index(index), faiss.IndexHNSW)
        if index.metric_type != faiss.METRIC_INNER_PRODUCT or hnsw != (cfg.kind == "hnsw") or \
                (not hnsw and faiss.try_extract_index_ivf(index) is None):
            raise BundleError(f"{path}: not the inner-product {cfg.kind} index its sidecar describes")
        if vectors is None:
            vectors = index.reconstruct_n(0, n) if hnsw else _ivf_vectors(faiss, index, n)
        out = cls(index, vectors, cfg, normalize)
        out.__dict__["memory_bytes"] = path.stat().st_size  # the serialised size, as for a built index
        return out


def sidecar(path: Path) -> Path:
    """``ann.faiss`` -> ``ann.json``: the index's config, N, D and normalize."""
    return Path(path).with_suffix(".json")


def _ivf_vectors(faiss: Any, index: Any, n: int) -> np.ndarray:
    ivf = faiss.extract_index_ivf(index)
    ivf.make_direct_map()
    return ivf.reconstruct_n(0, n)
