"""The backbone side of training one target domain T.

Holds the shared backbone, T's LoRA adapter and the item text table the heads read::

    text_table[i] = f_base(text_i)             for items of other domains (cached once per backbone)
                  = f_base(text_i) + Δ_T(text_i) for items of T (re-encoded after every epoch)

``ItemTextSide.frozen(table)`` serves sweeps and ablations that keep every embedding fixed (no backbone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from crossrec.data.sequences import ItemIndex

if TYPE_CHECKING:
    from crossrec.model.config import BackboneConfig, LoraConfig


class ItemTextSide:
    def __init__(self, item_index: ItemIndex, target: str, base_table: torch.Tensor, encoder: Any = None,
                 adapters: Any = None, identity: dict[str, Any] | None = None, batch_size: int = 128) -> None:
        self.item_index = item_index
        self.target = target
        self.catalogue = torch.as_tensor(item_index.domain_items(target), dtype=torch.long)
        self._catalogue_texts = [item_index.texts[i] for i in self.catalogue.tolist()]
        self._table = base_table.float()
        self.encoder = encoder
        self.adapters = adapters
        self.identity = identity
        self.batch_size = batch_size

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, backbone_cfg: BackboneConfig, lora: LoraConfig | None, item_index: ItemIndex, target: str,
               device: torch.device) -> ItemTextSide:
        """Load the backbone, add T's adapter (when ``lora`` is given) and encode the base text table."""
        from crossrec.model.adapters import DomainAdapters
        from crossrec.model.backbone import load_backbone
        from crossrec.model.item_encoder import ItemTextEncoder

        if device.type == "cuda" and backbone_cfg.device == "cpu":
            backbone_cfg = backbone_cfg.model_copy(update={"device": str(device)})
        backbone = load_backbone(backbone_cfg)
        adapters = DomainAdapters(backbone)
        if lora is not None:
            adapters.add(target, lora)
        encoder = ItemTextEncoder(backbone, adapters)
        side = cls(item_index, target, torch.zeros(0), encoder, adapters if lora is not None else None,
                   backbone.identity)
        side._table = side._encode_base_table()
        if side.adapters is not None:
            side._table = side.text_table(refresh_target=True)
        return side

    @classmethod
    def frozen(cls, item_index: ItemIndex, target: str, table: torch.Tensor,
               identity: dict[str, Any] | None = None) -> ItemTextSide:
        """A fixed text table (e.g. from a bundle): nothing is re-encoded, nothing trains."""
        return cls(item_index, target, table, identity=identity)

    def _encode_base_table(self) -> torch.Tensor:
        """(N+1, H) base embeddings of every item, through the on-disk cache (key: backbone, no adapter)."""
        from crossrec.model.embedding_cache import base_text_table

        return base_text_table(self.encoder, [str(i) for i in self.item_index.item_ids[1:]],
                               list(self.item_index.texts[1:]), self.batch_size)

    # ------------------------------------------------------------------ properties
    @property
    def hidden_size(self) -> int:
        return int(self._table.shape[1])

    @property
    def trains_adapter(self) -> bool:
        return self.adapters is not None

    @property
    def torch_module(self) -> nn.Module | None:
        return self.encoder.backbone.model if self.encoder is not None else None

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.adapters.trainable_parameters(self.target)) if self.adapters is not None else []

    # ------------------------------------------------------------------ encoding
    def text_table(self, refresh_target: bool = False) -> torch.Tensor:
        """(N+1, H) float32 text table; with ``refresh_target`` T's rows are re-encoded (no grad)."""
        if refresh_target and self.trains_adapter:
            with torch.no_grad():
                rows = self.encoder.encode(self._catalogue_texts, domain=self.target, batch_size=self.batch_size)
            self._table = self._table.clone()
            self._table[self.catalogue] = rows.float().cpu()
        return self._table

    def encode_catalogue_rows(self, rows: torch.Tensor, grad: bool = True) -> torch.Tensor:
        """(G,) catalogue positions -> (G, H) embeddings through T's adapter (with gradient if ``grad``)."""
        texts = [self._catalogue_texts[i] for i in rows.tolist()]
        return self.encoder.encode(texts, domain=self.target, batch_size=max(len(texts), 1), grad=grad)

    def save_adapter(self, directory) -> None:
        self.adapters.save(self.target, directory)

    def load_adapter(self, directory) -> None:
        self.adapters.load(self.target, directory)

