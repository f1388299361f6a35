"""The three model stages of the serving graph as plain classes: collaborators passed in, typed messages in and
out (:mod:`crossrec.serve.messages`), no Ray. The composed Serve graph runs each as its own deployment
(:mod:`crossrec.serve.deployments`); the fused layout and the in-process path call them directly.

    EncoderStage  HistoryBatch (B, L)              → InterestBatch (B, D) ×3    (+ explain: leave-one-out reasons)
                  open items' text                 → backbone + adapter, lazily  (+ item_vectors: catalogue updates)
    FusionStage   InterestBatch                    → QueryBatch (B, D)
    RankerStage   RankPlan + QueryBatch (warm rows) → RankedBatch (B, k)         (cold rows: popularity)
                  over the current catalogue version (crossrec.serve.catalogue), re-read when it changes

Methods are ``async`` so that a replica may fetch a target's heads asynchronously (the Encoder's
``@serve.multiplexed`` loader); the compute itself is synchronous (:mod:`crossrec.serve.inference`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from crossrec.model.bundle import TargetModel
from crossrec.model.open_items import text_item_vectors
from crossrec.serve.catalogue import CatalogueStore
from crossrec.serve.inference import TargetHeadsCache, encode_batch, explain_batch, fuse_batch, rank_batch
from crossrec.serve.messages import HistoryBatch, InterestBatch, QueryBatch, RankedBatch, RankPlan
from crossrec.serve.metrics import NullMetrics

HeadsLoader = Callable[[str], Awaitable[TargetModel]]


class _Stage:
    """A stage's version check, metrics and heads lookup (``heads``: an LRU, or an async loader)."""

    name = "stage"

    def __init__(self, version: str, heads: TargetHeadsCache | HeadsLoader, metrics: Any = None) -> None:
        self.version = version
        self._heads = heads
        self.metrics = metrics or NullMetrics()

    async def heads_for(self, target: str) -> TargetModel:
        if isinstance(self._heads, TargetHeadsCache):
            return self._heads.get(target)
        return await self._heads(target)


class EncoderStage(_Stage):
    """Histories → interests with the target's heads (the sequence encoder and transfer). Open items' text is
    embedded by ``embedder`` (:class:`crossrec.model.text_embedder.BundleTextEmbedder`: the backbone loads on
    the first open item, in a worker thread so that batches of bundle items go on meanwhile)."""

    name = "Encoder"

    def __init__(self, version: str, heads: TargetHeadsCache | HeadsLoader, metrics: Any = None,
                 embedder: Any = None) -> None:
        super().__init__(version, heads, metrics)
        self.embedder = embedder

    async def _embed(self, target: str, items: list[tuple[str, str]]):
        if self.embedder is None:
            raise RuntimeError(f"{self.name}: open items need a text embedder, and this stage has none")
        with self.metrics.timed(target, "embed_text", rows=len(items)):
            return await self._embed_texts(target, items)

    async def _embed_texts(self, target: str, items: list[tuple[str, str]]):
        """(N, H) embeddings of ``items`` (the Serve replica gathers concurrent calls here: ``@serve.batch``)."""
        return await asyncio.to_thread(self.embedder.embed, target, items)

    async def encode(self, batch: HistoryBatch) -> InterestBatch:
        batch.check(self.version, self.name)
        heads = await self.heads_for(batch.target)
        text = await self._embed(batch.target, list(batch.texts)) if batch.texts else None
        with self.metrics.timed(batch.target, "encode", rows=len(batch)):
            return encode_batch(heads, batch, text)

    async def item_vectors(self, version: str, target: str, texts: list[str]) -> np.ndarray:
        """(N,) texts of new ``target`` items → their candidate vectors (N, D): text-only, through the target's
        adapter and item tower (what a catalogue update publishes for the Ranker)."""
        if version != self.version:
            from crossrec.serve.messages import StaleBundleError

            raise StaleBundleError(f"{self.name} replica serves bundle {self.version!r}, the request expects {version!r}")
        heads = await self.heads_for(target)
        text = await self._embed(target, [(target, t) for t in texts])
        return text_item_vectors(heads.model, text.to(heads.catalogue_vectors.device)).detach().cpu().numpy()

    async def explain(self, batch: HistoryBatch, ranked: list[list[int]], n: list[int],
                      added: dict[int, np.ndarray] | None = None) -> list:
        """Per row, per ranked item index: (history position, weight) pairs, strongest first. Open history
        items take part like bundle items (their text comes from the embedder's cache after ``encode``);
        ``added``: the published vectors (D,) of ranked items added by a catalogue update."""
        batch.check(self.version, self.name)
        heads = await self.heads_for(batch.target)
        text = await self._embed(batch.target, list(batch.texts)) if batch.texts else None
        with self.metrics.timed(batch.target, "explain", rows=len(batch)):
            return explain_batch(heads, batch, ranked, n, text, added)


class FusionStage(_Stage):
    """Interests → ranking queries with the target's fusion module."""

    name = "Fusion"

    async def fuse(self, interests: InterestBatch) -> QueryBatch:
        interests.check(self.version, self.name)
        heads = await self.heads_for(interests.target)
        with self.metrics.timed(interests.target, "fuse"):
            return fuse_batch(heads, interests)


class RankerStage(_Stage):
    """Top-k over the target's catalogue, seen items excluded; popularity for cold rows. Exact, unless the
    catalogue has at least ``ann_min_items`` items and the bundle an ANN index for it (None: always exact).
    ``catalogue``: the published catalogue updates (checked on every call; a new version is used at once)."""

    name = "Ranker"

    def __init__(self, version: str, heads: TargetHeadsCache | HeadsLoader, metrics: Any = None,
                 ann_min_items: int | None = None, catalogue: CatalogueStore | None = None) -> None:
        super().__init__(version, heads, metrics)
        self.ann_min_items = ann_min_items
        self.catalogue = catalogue

    def warm_ann(self, heads: TargetModel, threads: int = 1) -> bool:
        """Read ``heads``' ANN index now (not on the first request) when the Ranker will use it; True if so."""
        if self.ann_min_items is None or heads.ann_file is None or len(heads.catalogue) < self.ann_min_items:
            return False
        import faiss

        faiss.omp_set_num_threads(threads)  # replicas share the machine's cores, as torch's threads
        return heads.ann is not None

    async def rank(self, plan: RankPlan, queries: QueryBatch | None) -> RankedBatch:
        plan.check(self.version, self.name)
        if queries is not None:
            queries.check(self.version, self.name)
        heads = await self.heads_for(plan.target)
        view, version = heads, 0
        if self.catalogue is not None:
            overlay = self.catalogue.current()
            view, version = overlay.ranked(heads), overlay.version
        with self.metrics.timed(plan.target, "rank", rows=len(plan)):
            return rank_batch(view, plan, queries, ann_min_items=self.ann_min_items, catalogue_version=version)
