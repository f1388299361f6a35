"""Request-time item text -> the embedding a target's heads expect, with the bundle's backbone and adapters.

:class:`BundleTextEmbedder` loads the backbone (``bundle.json``'s ``backbone`` config, on the given device)
and every adapter under ``adapters/`` on its *first* call, never before: a service whose requests only carry
catalogue items never loads a language model. Embeddings are kept in an LRU keyed by (adapter, text hash), so
an item that many requests carry is encoded once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from crossrec.errors import BundleError
from crossrec.model.open_items import adapter_for


class TextEmbeddingLRU:
    """(adapter, text) -> (H,) embedding, at most ``capacity`` entries (least recently used dropped)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[tuple[str | None, str], torch.Tensor] = OrderedDict()
        self.hits = self.misses = 0

    @staticmethod
    def key(adapter: str | None, text: str) -> tuple[str | None, str]:
        return adapter, hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, key: tuple[str | None, str]) -> torch.Tensor | None:
        row = self._rows.get(key)
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        self._rows.move_to_end(key)
        return row

    def put(self, key: tuple[str | None, str], row: torch.Tensor) -> None:
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


class BundleTextEmbedder:
    """``embed(target, [(domain, text), ...]) -> (N, H)`` L2-normalised rows, as the target's text table holds
    them (the target's adapter for its own items, the base backbone for other domains).

    Args:
        bundle_dir: a local (verified or staged) bundle directory.
        meta: its ``bundle.json``; manifest_backbone: the backbone identity its manifest records (checked
            against the loaded backbone: embeddings of another model would be off-scale).
        device: where the backbone runs (``cpu`` / ``cuda``).
    """

    def __init__(self, bundle_dir: str | Path, meta: dict[str, Any], manifest_backbone: dict[str, Any] | None,
                 device: str = "cpu", capacity: int = 10_000, batch_size: int = 64) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.meta = meta
        self.manifest_backbone = manifest_backbone
        self.device = device
        self.batch_size = batch_size
        self.cache = TextEmbeddingLRU(capacity)
        self._encoder: Any = None
        self._lock = threading.Lock()  # one backbone, one cache: one call at a time
        self.encoded = 0  # texts that went through the backbone (cache misses)

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def _load(self) -> Any:
        from crossrec.model.adapters import DomainAdapters
        from crossrec.model.backbone import load_backbone
        from crossrec.model.bundle_io import describe_backbone, same_backbone
        from crossrec.model.config import BackboneConfig
        from crossrec.model.item_encoder import ItemTextEncoder

        cfg = BackboneConfig.from_dict(self.meta.get("backbone") or {}, source=f"{self.bundle_dir}/bundle.json: backbone")
        backbone = load_backbone(cfg.model_copy(update={"device": self.device}))
        if self.manifest_backbone and not same_backbone(self.manifest_backbone, backbone.identity):
            raise BundleError(f"{self.bundle_dir}: trained on backbone {describe_backbone(self.manifest_backbone)}, "
                              f"but bundle.json's backbone config loads {describe_backbone(backbone.identity)}")
        adapters = DomainAdapters(backbone)
        for adapter_dir in sorted((self.bundle_dir / "adapters").glob("*")):
            adapters.load(adapter_dir.name, adapter_dir)
        return ItemTextEncoder(backbone, adapters)

    def embed(self, target: str, items: list[tuple[str, str]]) -> torch.Tensor:
        """(N,) (domain, text) pairs -> (N, H) float32 on CPU, the rows ``target``'s heads read. Thread-safe
        (one backbone and one cache: calls are serialised)."""
        with self._lock:
            return self._embed([(adapter_for(target, d), t) for d, t in items])

    def embed_many(self, calls: list[tuple[str, list[tuple[str, str]]]]) -> list[torch.Tensor]:
        """Several :meth:`embed` calls ``(target, items)`` at once: one backbone pass per adapter over all their
        distinct uncached texts (what a Serve replica's batching gathers); one (N_c, H) tensor per call."""
        pairs = [(adapter_for(target, d), t) for target, items in calls for d, t in items]
        with self._lock:
            rows = self._embed(pairs)
        out, start = [], 0
        for _, items in calls:
            out.append(rows[start : start + len(items)] if items else torch.zeros(0, 0))
            start += len(items)
        return out

    def _embed(self, pairs: list[tuple[str | None, str]]) -> torch.Tensor:
        """(N,) (adapter, text) pairs -> (N, H): cached rows, the others through the backbone per adapter."""
        keys = [self.cache.key(adapter, t) for adapter, t in pairs]
        rows: list[torch.Tensor | None] = [self.cache.get(k) for k in keys]
        missing: dict[tuple[str | None, str], list[int]] = {}
        for i, row in enumerate(rows):
            if row is None:
                missing.setdefault(keys[i], []).append(i)
        if missing and self._encoder is None:
            self._encoder = self._load()
        by_adapter: dict[str | None, list[tuple[str | None, str]]] = {}
        for key in missing:
            by_adapter.setdefault(key[0], []).append(key)
        for adapter, group in by_adapter.items():
            texts = [pairs[missing[k][0]][1] for k in group]
            with torch.no_grad():
                out = self._encoder.encode(texts, domain=adapter, batch_size=self.batch_size).float().cpu()
            self.encoded += len(texts)
            for key, row in zip(group, out, strict=True):
                self.cache.put(key, row)
                for i in missing[key]:
                    rows[i] = row
        if not rows:
            return torch.zeros(0, 0)
        return torch.stack(rows)  # type: ignore[arg-type]


__all__ = ["BundleTextEmbedder", "TextEmbeddingLRU"]
