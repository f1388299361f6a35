"""Item text → L2-normalised embedding with the item's domain adapter active (batched, length-sorted)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from crossrec.model.adapters import DomainAdapters
from crossrec.model.backbone import Backbone


class ItemTextEncoder:
    """``encode(texts, domain) -> (N, H)`` unit vectors: ``f_base`` for domain None / without an adapter."""

    def __init__(self, backbone: Backbone, adapters: DomainAdapters | None = None) -> None:
        self.backbone = backbone
        self.adapters = adapters

    def encode(self, texts: list[str], domain: str | None = None, batch_size: int = 64, grad: bool = False,
               sort_by_length: bool = True, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Args: texts (N,); domain whose adapter applies. Returns (N, H) float32, L2-normalised.

        Sorting by length groups similar lengths so batches carry little padding; output order is the input's.
        With ``grad`` the backbone runs in train mode (LoRA dropout) and the result carries gradient.
        """
        if not texts:
            return torch.zeros(0, self.backbone.hidden_size)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort_by_length else list(range(len(texts)))
        out: list[torch.Tensor] = []
        model = self.backbone.model
        model.train(grad)
        ctx = self.adapters.use(domain) if self.adapters is not None else _null()
        with ctx, torch.set_grad_enabled(grad):
            for start in range(0, len(order), batch_size):
                chunk = [texts[i] for i in order[start : start + batch_size]]
                out.append(F.normalize(self.backbone.embed(chunk), dim=-1))
                if progress is not None:
                    progress(min(start + batch_size, len(order)), len(order))
        model.eval()
        emb = torch.cat(out)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return emb[inverse.to(emb.device)]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
