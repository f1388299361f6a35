"""Frozen-text zero-shot baseline (BENCHMARK.md): the backbone's item embeddings, no training.

user = mean of the L2-normalised embeddings of the last ``last_n`` visible history items (all domains);
score = cosine against every target item.
"""

from __future__ import annotations

import numpy as np

from crossrec.data.split import TargetSplit
from crossrec.eval.protocol import HistoryBatch
from crossrec.model.config import BackboneConfig


class ZeroShot:
    name = "zero_shot"

    def __init__(self, backbone: BackboneConfig | None = None, last_n: int = 20, batch_size: int = 128) -> None:
        self.backbone_cfg = backbone or BackboneConfig()
        self.last_n = last_n
        self.batch_size = batch_size
        self.table: np.ndarray | None = None  # (N+1, H) unit vectors, row 0 zeros
        self.target_items: np.ndarray | None = None

    def fit(self, split: TargetSplit) -> None:
        """Every item's frozen-backbone embedding (no adapter), through the on-disk cache crossrec's text table
        shares (each item is encoded once per backbone); nothing is trained."""
        from crossrec.model.backbone import load_backbone
        from crossrec.model.embedding_cache import base_text_table
        from crossrec.model.item_encoder import ItemTextEncoder

        index = split.item_index
        encoder = ItemTextEncoder(load_backbone(self.backbone_cfg))
        self.table = base_text_table(encoder, [str(i) for i in index.item_ids[1:]], list(index.texts[1:]),
                                     self.batch_size).numpy()
        self.target_items = split.target_items

    def score(self, batch: HistoryBatch) -> np.ndarray:
        """(B, N_T) cosine scores; rows without history score 0 everywhere."""
        if self.table is None:
            raise RuntimeError("ZeroShot.score called before fit(split)")
        items = batch.items[:, -self.last_n :]
        vecs = self.table[items]  # (B, n, H); padding rows are zero
        counts = np.maximum((items > 0).sum(1, keepdims=True), 1)
        users = vecs.sum(1) / counts
        users /= np.maximum(np.linalg.norm(users, axis=1, keepdims=True), 1e-12)
        return users @ self.table[self.target_items].T
