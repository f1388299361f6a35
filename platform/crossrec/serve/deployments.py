"""Serve replicas: each loads the verified bundle once and wraps one plain stage (:mod:`crossrec.serve.stages`)
or the HTTP frontend (:mod:`crossrec.serve.http`). No ``serve.deployment`` here: the app builder
(:mod:`crossrec.serve.app`) applies it, with the options of ``DEPLOYMENT_DEFAULTS`` and the YAML. The graph::

    Ingress (FastAPI; @serve.batch gathers concurrent /recommend calls into one batch)
      ─► Encoder (heads multiplexed by target domain;  HistoryBatch (B, L) → InterestBatch
                  the backbone + adapters for open items' text, loaded on the first one)
      ─► Fusion                                        InterestBatch → QueryBatch (B, D)
      ─► Ranker (each target's item matrix, plus the    RankPlan + QueryBatch → RankedBatch (B, k)
                  current catalogue update)

One hop per stage per *batch*, not per request. ``FusedReplica`` runs the same pipeline in one replica.

Readiness: every replica loads and checksum-verifies the bundle in its constructor (a corrupted bundle never
becomes ready), and the Ingress constructor waits until Encoder, Fusion and Ranker answer ``ready()`` with its
own bundle version, so Serve routes no request before the whole graph has the same bundle loaded. Every message
carries that version; a replica holding another one refuses it (HTTP 503, retry).
"""

from __future__ import annotations

import asyncio

import torch
from ray import serve

from crossrec.serve.http import HttpFrontend, local_frontend
from crossrec.serve.http import unavailable as _unavailable  # noqa: F401  (kept for callers and tests)
from crossrec.serve.inference import BundleCatalog, TargetHeadsCache
from crossrec.serve.metrics import ServeMetrics
from crossrec.serve.pipeline import HandleCalls, Job, Pipeline
from crossrec.serve.stages import EncoderStage, FusionStage, RankerStage


def _catalog(bundle: str, device: str, threads: int, catalogue: str | None = None) -> BundleCatalog:
    torch.set_num_threads(threads)  # replicas share the machine's cores: no intra-op oversubscription
    return BundleCatalog(bundle, device, catalogue)  # checksum-verifies every file of the bundle


class _Ready:
    """``ready()`` / ``check_health()`` of a replica holding ``self.version``."""

    version: str | None = None

    def ready(self) -> str:
        """The bundle version this replica serves (only answered once its constructor has finished)."""
        self.check_health()
        return self.version  # type: ignore[return-value]

    def check_health(self) -> None:
        if not self.version:
            raise RuntimeError(f"{type(self).__name__}: bundle not loaded")


class EncoderReplica(_Ready, EncoderStage):
    """The Encoder stage; targets' heads are loaded on demand, multiplexed by target domain."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1, text_cache_items: int = 10_000) -> None:
        self.catalog = _catalog(bundle, device, threads)
        self.loads = 0
        self.embed_batches = 0
        super().__init__(self.catalog.version, self.get_heads, ServeMetrics(), self.catalog.text_embedder(text_cache_items))

    @serve.multiplexed(max_num_models_per_replica=4)
    async def get_heads(self, target: str):
        self.loads += 1
        return self.catalog.load_target(target)

    async def _embed_texts(self, target: str, items: list[tuple[str, str]]):
        return await self._embed_batched((target, items))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _embed_batched(self, calls: list[tuple[str, list[tuple[str, str]]]]) -> list:
        """Concurrent calls' texts (several Ingress replicas' batches, catalogue updates) in one backbone pass
        per adapter; the common path (catalogue items only) never comes here."""
        self.embed_batches += 1
        return await asyncio.to_thread(self.embedder.embed_many, calls)

    def stats(self) -> dict:
        embedder = self.embedder
        return {"loaded_targets": self.loads, "replica": serve.get_replica_context().replica_tag,
                "backbone_loaded": embedder.loaded, "texts_encoded": embedder.encoded,
                "embed_batches": self.embed_batches,
                "text_cache": {"items": len(embedder.cache), "hits": embedder.cache.hits,
                               "misses": embedder.cache.misses}}


class FusionReplica(_Ready, FusionStage):
    """The Fusion stage (each target's fusion weights, LRU-cached)."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1, max_targets: int = 8) -> None:
        catalog = _catalog(bundle, device, threads)
        super().__init__(catalog.version, TargetHeadsCache(catalog, max_targets), ServeMetrics())


class RankerReplica(_Ready, RankerStage):
    """The Ranker stage; ``preload`` targets' item matrices are loaded at start (default: all)."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1, preload: list[str] | None = None,
                 ann_min_items: int | None = None, catalogue: str | None = None) -> None:
        catalog = _catalog(bundle, device, threads, catalogue)
        heads = TargetHeadsCache(catalog, capacity=max(len(catalog.targets), 1))
        super().__init__(catalog.version, heads, ServeMetrics(), ann_min_items, catalog.store)
        for target in preload or catalog.targets:
            self.warm_ann(heads.get(target), threads)


class _BatchingIngress(_Ready):
    """An HTTP frontend whose /recommend calls are gathered by ``@serve.batch`` (the ASGI app is handed to Serve
    through ``__serve_build_asgi_app__``; the builder applies ``serve.ingress()``)."""

    frontend: HttpFrontend

    def _batching(self, batching: bool, max_batch_size: int, batch_wait_timeout_s: float):
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)
        return self._batched if batching else None

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.001, max_concurrent_batches=4)
    async def _batched(self, jobs: list[Job]) -> list[dict]:
        self.frontend.metrics.batch("ingress", len(jobs))
        return await self.frontend.pipeline.run(jobs)

    def __serve_build_asgi_app__(self):
        return self.frontend.api


class IngressReplica(_BatchingIngress):
    """The composed graph's HTTP entry: validates and resolves requests, calls the stage deployments."""

    async def __init__(self, *, encoder, fusion, ranker, bundle: str, max_history: int = 200,
                       max_body_bytes: int = 1_000_000, batching: bool = True, threads: int = 1,
                       max_batch_size: int = 32, batch_wait_timeout_s: float = 0.001, transport: str = "grpc",
                       catalogue: str | None = None) -> None:
        catalog = _catalog(bundle, "cpu", threads, catalogue)
        self.version = catalog.version
        self.handles = (encoder, fusion, ranker)
        metrics = ServeMetrics()
        pipeline = Pipeline(catalog, HandleCalls(encoder, fusion, ranker, transport), max_history, metrics)
        self.frontend = HttpFrontend(pipeline, max_body_bytes, metrics,
                                     submit=self._batching(batching, max_batch_size, batch_wait_timeout_s),
                                     readiness=lambda: self._stage_versions(10), encoder_stats=encoder.stats.remote)
        versions = await self._stage_versions(timeout_s=600)  # readiness: no route before the graph is loaded
        if set(versions.values()) != {self.version}:
            raise RuntimeError(f"deployments serve different bundles: {versions}, Ingress {self.version!r}")

    async def _stage_versions(self, timeout_s: float) -> dict[str, str]:
        calls = [h.ready.remote() for h in self.handles]
        return dict(zip(("Encoder", "Fusion", "Ranker"), await asyncio.wait_for(asyncio.gather(*calls), timeout_s),
                        strict=True))


class FusedReplica(_BatchingIngress):
    """The fused layout: HTTP, Encoder, Fusion and Ranker in one replica (a small service; no stage hops)."""

    def __init__(self, *, bundle: str, device: str = "cpu", max_history: int = 200, max_body_bytes: int = 1_000_000,
                 batching: bool = True, threads: int = 1, max_batch_size: int = 32,
                 batch_wait_timeout_s: float = 0.001, ann_min_items: int | None = None,
                 catalogue: str | None = None) -> None:
        torch.set_num_threads(threads)
        self.frontend = local_frontend(bundle, device, max_history, max_body_bytes, ServeMetrics(),
                                       ann_min_items=ann_min_items, catalogue_dir=catalogue)
        self.frontend.submit = self._batching(batching, max_batch_size, batch_wait_timeout_s) or self.frontend.submit
        self.version = self.frontend.catalog.version
