"""Adapter that lets a :class:`CrossRecModel` be evaluated by the common runner (the Recommender protocol).

Rows whose visible history is empty (or holds no item the model reads) are scored by target-domain
popularity over the training prefixes — the same fallback serving uses — so every user gets a ranking.
Items the model reads by their text alone (``tower.id_min_interactions``: new and rare items) are scored and read
in histories that way here too: the mask lives in the model's item tower, set by the training engine.
"""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.split import TargetSplit
from crossrec.eval.protocol import HistoryBatch
from crossrec.model.recommender import CrossRecModel


def training_popularity(split: TargetSplit, catalogue: np.ndarray) -> np.ndarray:
    """(N_T,) float32 counts of each catalogue item inside the users' training prefixes (hidden items: 0)."""
    return split.training_item_counts()[catalogue].astype(np.float32)


class CrossRecScorer:
    """Recommender-protocol wrapper: ``score(batch) -> (B, N_T)`` numpy scores over T's catalogue."""

    name = "crossrec"

    def __init__(self, model: CrossRecModel, split: TargetSplit, device: torch.device | str = "cpu",
                 batch_size: int = 512, popularity: np.ndarray | None = None) -> None:
        self.model = model
        self.device = torch.device(device)
        self.batch_size = batch_size
        catalogue = model.catalogue.cpu().numpy()
        self.popularity = popularity if popularity is not None else training_popularity(split, catalogue)
        self._fallback = self.popularity.astype(np.float32)  # ranks rows without usable history

    def fit(self, split: TargetSplit) -> None:  # trained elsewhere (the training engine)
        return None

    @torch.no_grad()
    def score(self, batch: HistoryBatch) -> np.ndarray:
        self.model.eval()
        items = torch.as_tensor(batch.items, device=self.device)
        domains = torch.as_tensor(batch.domains, device=self.device)
        usable = self.model.usable_rows(items, domains)
        out = np.broadcast_to(self._fallback, (items.shape[0], self._fallback.shape[0])).copy()
        if bool(usable.any()):
            rows = torch.nonzero(usable).flatten()
            cat = self.model.catalogue_vectors()
            users = self.model.user_vectors(items[rows], domains[rows])
            out[rows.cpu().numpy()] = self.model.scores(users, cat).float().cpu().numpy()
        return out
