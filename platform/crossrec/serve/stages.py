"""The three model stages of the serving graph as plain classes: collaborators passed in, typed messages in and
out (:mod:`crossrec.serve.messages`), no Ray. The composed Serve graph runs each as its own deployment
(:mod:`crossrec.serve.deployments`); the fused layout and the in-process path call them directly.

    EncoderStage  HistoryBatch (B, L)              → InterestBatch (B, D) ×3    (+ explain: leave-one-out reasons)
    FusionStage   InterestBatch                    → QueryBatch (B, D)
    RankerStage   RankPlan + QueryBatch (warm rows) → RankedBatch (B, k)         (cold rows: popularity)

Methods are ``async`` so that a replica may fetch a target's heads asynchronously (the Encoder's
``@serve.multiplexed`` loader); the compute itself is synchronous (:mod:`crossrec.serve.inference`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from crossrec.model.bundle import TargetModel
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
    """Histories → interests with the target's heads (the sequence encoder and transfer)."""

    name = "Encoder"

    async def encode(self, batch: HistoryBatch) -> InterestBatch:
        batch.check(self.version, self.name)
        heads = await self.heads_for(batch.target)
        with self.metrics.timed(batch.target, "encode", rows=len(batch)):
            return encode_batch(heads, batch)

    async def explain(self, batch: HistoryBatch, ranked: list[list[int]], n: list[int]) -> list:
        """Per row, per ranked item index: (history item index, weight) pairs, strongest first."""
        batch.check(self.version, self.name)
        heads = await self.heads_for(batch.target)
        with self.metrics.timed(batch.target, "explain", rows=len(batch)):
            return explain_batch(heads, batch, ranked, n)


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
    catalogue has at least ``ann_min_items`` items and the bundle an ANN index for it (None: always exact)."""

    name = "Ranker"

    def __init__(self, version: str, heads: TargetHeadsCache | HeadsLoader, metrics: Any = None,
                 ann_min_items: int | None = None) -> None:
        super().__init__(version, heads, metrics)
        self.ann_min_items = ann_min_items

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
        with self.metrics.timed(plan.target, "rank", rows=len(plan)):
            return rank_batch(heads, plan, queries, ann_min_items=self.ann_min_items)
