"""On-disk cache of item text embeddings, keyed by item id and adapter version.

One directory per (backbone identity, domain adapter version)::

    <root>/<key>/embeddings.npy   float32 (N, H), row i = item_ids[i]
    <root>/<key>/item_ids.parquet

``get_or_compute`` re-encodes only the items that are missing, so re-running training, evaluation or the
embedding job over a grown catalogue encodes only the new items. A new adapter version is a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from crossrec.utils.io import atomic_directory
from crossrec.utils.progress import Progress


def cache_key(backbone_identity: dict, adapter_version: str | None, max_length: int) -> str:
    raw = json.dumps({"backbone": backbone_identity, "adapter": adapter_version or "base", "max_length": max_length},
                     sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


class EmbeddingCache:
    """Item-id → embedding rows for one key; ``encode(texts) -> (n, H) float32`` fills misses."""

    def __init__(self, root: str | Path, key: str) -> None:
        self.dir = Path(root) / key
        self.hits = 0
        self.misses = 0

    def _read(self) -> tuple[list[str], np.ndarray | None]:
        if not (self.dir / "embeddings.npy").is_file():
            return [], None
        ids = pd.read_parquet(self.dir / "item_ids.parquet")["item_id"].astype(str).tolist()
        return ids, np.load(self.dir / "embeddings.npy", allow_pickle=False)

    def get_or_compute(self, item_ids: list[str], texts: list[str],
                       encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """(n,) ids and texts -> (n, H) float32 embeddings, encoding only ids not in the cache."""
        cached_ids, cached = self._read()
        position = {i: k for k, i in enumerate(cached_ids)}
        missing = [k for k, i in enumerate(item_ids) if i not in position]
        self.hits, self.misses = len(item_ids) - len(missing), len(missing)
        if missing:
            new = np.asarray(encode([texts[k] for k in missing]), dtype=np.float32)
            all_ids = cached_ids + [item_ids[k] for k in missing]
            table = new if cached is None else np.concatenate([cached, new])
            self._write(all_ids, table)
            position = {i: k for k, i in enumerate(all_ids)}
            cached = table
        return cached[[position[i] for i in item_ids]]

    def _write(self, ids: list[str], table: np.ndarray) -> None:
        with atomic_directory(self.dir) as tmp:
            np.save(tmp / "embeddings.npy", table, allow_pickle=False)
            pd.DataFrame({"item_id": pd.array(ids, dtype="str")}).to_parquet(tmp / "item_ids.parquet", index=False)


def default_cache_root() -> Path:
    return Path(os.environ.get("CROSSREC_CACHE", Path(tempfile.gettempdir()) / "crossrec-embedding-cache"))


def base_text_table(encoder, item_ids: list[str], texts: list[str], batch_size: int = 128) -> torch.Tensor:
    """(N+1, H) float32 base-backbone embeddings (no adapter) of N items, row 0 zeros (padding), through the
    on-disk cache keyed by the backbone: what every model reading frozen item text starts from (crossrec's text
    table, the zero-shot baseline), so each item is encoded once per backbone on this machine."""
    backbone = encoder.backbone
    cache = EmbeddingCache(default_cache_root(), cache_key(backbone.identity | {"precision": backbone.config.precision},
                                                           None, backbone.config.max_length))

    def encode(missing: list[str]) -> np.ndarray:
        with torch.no_grad(), Progress("embedding item text (base backbone, cached)", len(missing)) as bar:
            return encoder.encode(missing, domain=None, batch_size=batch_size,
                                  progress=lambda done, _total: bar.update(done)).float().cpu().numpy()

    emb = torch.from_numpy(cache.get_or_compute(item_ids, texts, encode))
    return torch.cat([torch.zeros(1, emb.shape[1]), emb])
