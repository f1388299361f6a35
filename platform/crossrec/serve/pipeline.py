"""The request path around the stages, one implementation for every layout.

:class:`Pipeline` validates and resolves requests, groups a batch's rows by target, calls Encoder → Fusion →
Ranker once per target (cold rows ride along in the Ranker call), asks the Encoder for explanations only for
rows that want them, and builds the JSON-ready responses. How a stage is reached is a collaborator:

    LocalCalls   the stage objects in this process (fused Serve layout, plain FastAPI app, in-process service)
    HandleCalls  Serve deployment handles (composed graph): the Encoder's answer goes to the Fusion and the
                 Fusion's to the Ranker as DeploymentResponses, without a stop in the Ingress; by default over
                 Serve's replica-to-replica gRPC transport (``stage_transport: grpc``) rather than Ray object
                 references (``ray``): measured, a third less CPU per request (docs/results/serving.md)

:class:`RecommendationService` is the synchronous in-process face (tests, benchmarks, notebooks).
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from crossrec.serve.inference import (
    BundleCatalog,
    HistoryResolver,
    RequestError,
    ResolvedHistory,
    TargetHeadsCache,
)
from crossrec.serve.messages import HistoryBatch, InterestBatch, QueryBatch, RankedBatch, RankPlan
from crossrec.serve.metrics import NullMetrics
from crossrec.serve.schemas import CatalogueUpdateRequest, RecommendRequest, RecommendResponse
from crossrec.serve.stages import EncoderStage, FusionStage, RankerStage


class StageCalls(Protocol):
    """How the pipeline reaches the stages. ``fuse``/``rank`` accept their input still pending (an awaitable),
    so a composed graph can pass one stage's answer straight to the next."""

    def encode(self, batch: HistoryBatch) -> Any: ...
    def fuse(self, interests: Any) -> Any: ...
    def rank(self, plan: RankPlan, queries: Any) -> Any: ...
    def explain(self, batch: HistoryBatch, ranked: list[list[int]], n: list[int],
                added: dict[int, np.ndarray]) -> Any: ...
    def item_vectors(self, version: str, target: str, texts: list[str]) -> Any: ...


async def _ready(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class LocalCalls:
    """Stages in this process (plain method calls; a pending input is awaited first)."""

    def __init__(self, encoder: EncoderStage, fusion: FusionStage, ranker: RankerStage) -> None:
        self.encoder, self.fusion, self.ranker = encoder, fusion, ranker

    def encode(self, batch: HistoryBatch):
        return self.encoder.encode(batch)

    async def fuse(self, interests: InterestBatch | Any) -> QueryBatch:
        return await self.fusion.fuse(await _ready(interests))

    async def rank(self, plan: RankPlan, queries: QueryBatch | Any | None) -> RankedBatch:
        return await self.ranker.rank(plan, await _ready(queries))

    def explain(self, batch: HistoryBatch, ranked: list[list[int]], n: list[int], added: dict[int, np.ndarray]):
        return self.encoder.explain(batch, ranked, n, added)

    def item_vectors(self, version: str, target: str, texts: list[str]):
        return self.encoder.item_vectors(version, target, texts)


class HandleCalls:
    """Stages behind Serve deployment handles; the Encoder is routed by target (``@serve.multiplexed``)."""

    def __init__(self, encoder: Any, fusion: Any, ranker: Any, transport: str = "grpc") -> None:
        if transport == "grpc":  # replica to replica over Serve's gRPC channel, messages pickled (not cloudpickle)
            opts = {"_by_reference": False, "request_serialization": "pickle", "response_serialization": "pickle"}
            encoder, fusion, ranker = (h.options(**opts) for h in (encoder, fusion, ranker))
        self.encoder, self.fusion, self.ranker = encoder, fusion, ranker
        self._by_target: dict[str, Any] = {}

    def _encoder(self, target: str) -> Any:
        if target not in self._by_target:
            self._by_target[target] = self.encoder.options(multiplexed_model_id=target)
        return self._by_target[target]

    def encode(self, batch: HistoryBatch):
        return self._encoder(batch.target).encode.remote(batch)

    def fuse(self, interests: Any):
        return self.fusion.fuse.remote(interests)

    def rank(self, plan: RankPlan, queries: Any):
        return self.ranker.rank.remote(plan, queries)

    def explain(self, batch: HistoryBatch, ranked: list[list[int]], n: list[int], added: dict[int, np.ndarray]):
        return self._encoder(batch.target).explain.remote(batch, ranked, n, added)

    def item_vectors(self, version: str, target: str, texts: list[str]):
        return self._encoder(target).item_vectors.remote(version, target, texts)


@dataclass(frozen=True)
class Job:
    """One validated request and its resolved history."""

    request: RecommendRequest
    history: ResolvedHistory


class Pipeline:
    """Requests → responses (dicts in the shape of :class:`RecommendResponse`) through ``calls``."""

    def __init__(self, catalog: BundleCatalog, calls: StageCalls, max_history: int = 200, metrics: Any = None) -> None:
        self.catalog = catalog
        self.calls = calls
        self.max_history = max_history
        self.resolver = HistoryResolver(catalog, max_len=max_history)
        self.metrics = metrics or NullMetrics()
        self._domain_id = {d: i + 1 for i, d in enumerate(catalog.index.domains)}

    def job(self, req: RecommendRequest) -> Job:
        """Validate and resolve one request (RequestError: 404 unknown target, 413 history too long, 422)."""
        if len(req.history) > self.max_history:
            raise RequestError("history", f"at most {self.max_history} items, got {len(req.history)}", 413)
        self.catalog.check_target(req.target_domain)
        hist = self.resolver.resolve(req)
        self.metrics.history(req.target_domain, known=int(hist.items.size), unknown=len(hist.unknown), cold=hist.empty)
        return Job(req, hist)

    async def run(self, jobs: list[Job]) -> list[dict]:
        """One Encoder → Fusion → Ranker chain per target in ``jobs`` (all its rows); responses in order."""
        by_target: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_target.setdefault(job.request.target_domain, []).append(i)
        out: list[dict | None] = [None] * len(jobs)
        await asyncio.gather(*(self._target(target, rows, jobs, out) for target, rows in by_target.items()))
        return out  # type: ignore[return-value]

    async def item_vectors(self, target: str, texts: list[str]):
        """Candidate vectors (N, D) of new ``target`` items (catalogue updates), from the Encoder stage."""
        return await _ready(self.calls.item_vectors(self.catalog.version, target, texts))

    async def _target(self, target: str, rows: list[int], jobs: list[Job], out: list[dict | None]) -> None:
        version, calls = self.catalog.version, self.calls
        reqs, hists = [jobs[i].request for i in rows], [jobs[i].history for i in rows]
        cold = [h.empty for h in hists]
        domain = self._domain_id[target]
        seen = [h.items[h.domains == domain] if r.exclude_seen else h.items[:0] for r, h in zip(reqs, hists, strict=True)]
        plan = RankPlan.build(version, target, max(r.k for r in reqs), cold, seen)
        warm = [j for j, c in enumerate(cold) if not c]
        batch = HistoryBatch.pack(version, target, [(hists[j].items, hists[j].domains) for j in warm],
                                  [hists[j].open for j in warm]) if warm else None
        queries = calls.fuse(calls.encode(batch)) if batch is not None else None
        ranked: RankedBatch = await calls.rank(plan, queries)
        items = [ranked.row(j, r.k) for j, r in enumerate(reqs)]
        reasons: dict[int, list] = {}
        asked = [w for w, j in enumerate(warm) if reqs[j].explain]  # off by default: no extra call
        if asked:
            reasons = await self._explain(batch, asked, [warm[w] for w in asked], items, reqs, ranked.catalogue_version)
        for j, i in enumerate(rows):
            out[i] = build_response(self.catalog, reqs[j], hists[j], items[j], cold[j], reasons.get(j),
                                    ranked.catalogue_version)

    async def _explain(self, batch: HistoryBatch, asked: list[int], rows: list[int],
                       items: list[list[tuple[int, float]]], reqs: list[RecommendRequest],
                       catalogue_version: int) -> dict[int, list]:
        """Reasons of rows ``rows`` (batch rows ``asked``): per item, (history position, weight) pairs. Items
        added by a catalogue update are explained with the vectors that version published."""
        ranked = [[i for i, _ in items[j]] for j in rows]
        added = self._added_vectors(batch.target, {i for r in ranked for i in r}, catalogue_version)
        found = await self.calls.explain(batch.select(asked), ranked, [reqs[j].explain_n for j in rows], added)
        return dict(zip(rows, found, strict=True))

    def _added_vectors(self, target: str, ranked: set[int], catalogue_version: int) -> dict[int, np.ndarray]:
        """Published vectors (D,) of the ranked items added by a catalogue update (those above the bundle's N)."""
        wanted = {i for i in ranked if i > self.catalog.store.base_size}
        if not wanted:
            return {}
        store = self.catalog.store
        overlay = store.current()
        if overlay.version != catalogue_version:  # the Ranker read a newer version than this replica has
            overlay = store.refresh()
        indices, vectors = overlay.vectors.get(target, (np.zeros(0, np.int64), None))
        return {int(i): vectors[r] for r, i in enumerate(indices) if int(i) in wanted}


def build_response(catalog: BundleCatalog, req: RecommendRequest, hist: ResolvedHistory,
                   items: list[tuple[int, float]], cold: bool,
                   reasons: list[list[tuple[int, float]]] | None = None, catalogue_version: int = 0) -> dict:
    """The response for ranked ``(item index, score)`` pairs, as the JSON-ready dict of
    :class:`RecommendResponse`; ``because`` per item when the request asked for explanations (a cold start's
    are [])."""
    index = catalog.index
    bundle_items = len(index.item_ids)

    def item(r: int, i: int, s: float) -> dict:
        if i < bundle_items:
            out = {"item_id": str(index.item_ids[i]), "text": str(index.texts[i]), "score": s}
        else:  # added by a catalogue update
            item_id, _, text = catalog.item_record(i)
            out = {"item_id": item_id, "text": text, "score": s}
        if req.explain:
            out["because"] = _because(index, hist, reasons[r]) if reasons is not None else []
        else:
            out["because"] = None
        return out

    return {"user_id": req.user_id, "target_domain": req.target_domain,
            "items": [item(r, i, s) for r, (i, s) in enumerate(items)], "model_version": catalog.version,
            "catalogue_version": catalogue_version, "cold_start": cold, "unknown_items": hist.unknown,
            "ignored_text": hist.ignored_text}


def _because(index: Any, hist: ResolvedHistory, pairs: list[tuple[int, float]]) -> list[dict]:
    """``[{item_id, domain, text, weight}]`` of (history position, weight) pairs (open items by their text)."""
    out = []
    for position, weight in pairs:
        item_id, domain, text = hist.describe(index, position)
        out.append({"item_id": item_id, "domain": domain, "text": text, "weight": float(weight)})
    return out


def local_stages(catalog: BundleCatalog, heads: TargetHeadsCache, metrics: Any = None,
                 ann_min_items: int | None = None) -> LocalCalls:
    """The three stages in this process, sharing one heads cache (and the catalogue's update store)."""
    v = catalog.version
    return LocalCalls(EncoderStage(v, heads, metrics, catalog.text_embedder()), FusionStage(v, heads, metrics),
                      RankerStage(v, heads, metrics, ann_min_items, catalog.store))


def local_pipeline(bundle_path: str | Path, device: str = "cpu", max_history: int = 200, metrics: Any = None,
                   cache_capacity: int = 8, ann_min_items: int | None = None,
                   preload: bool = False, catalogue_dir: str | Path | None = None) -> tuple[Pipeline, TargetHeadsCache]:
    """The pipeline with its three stages in this process, over one heads cache; ``preload``: load up to
    ``cache_capacity`` targets (and the ANN indexes the Ranker will use) now rather than on first request;
    ``catalogue_dir``: where catalogue updates are published (None: off)."""
    catalog = BundleCatalog(bundle_path, device, catalogue_dir)
    heads = TargetHeadsCache(catalog, cache_capacity)
    stages = local_stages(catalog, heads, metrics, ann_min_items)
    for target in catalog.targets[:cache_capacity] if preload else ():
        stages.ranker.warm_ann(heads.get(target))
    return Pipeline(catalog, stages, max_history, metrics), heads


class RecommendationService:
    """The whole request path in-process and synchronous: what every Serve layout computes, minus Serve."""

    def __init__(self, bundle_path: str | Path, device: str = "cpu", max_history: int = 200,
                 cache_capacity: int = 8, ann_min_items: int | None = None,
                 catalogue_dir: str | Path | None = None) -> None:
        self.pipeline, self.heads = local_pipeline(bundle_path, device, max_history, cache_capacity=cache_capacity,
                                                   ann_min_items=ann_min_items, catalogue_dir=catalogue_dir)
        self.catalog = self.pipeline.catalog
        self._loop = asyncio.new_event_loop()

    def preload(self, targets: list[str]) -> None:
        for t in targets:
            self.heads.get(t)

    def respond_many(self, requests: list[RecommendRequest]) -> list[dict]:
        """Response dicts (JSON-ready), in order. Raises RequestError for a request that cannot be served."""
        jobs = [self.pipeline.job(r) for r in requests]
        return self._loop.run_until_complete(self.pipeline.run(jobs))

    def recommend_many(self, requests: list[RecommendRequest]) -> list[RecommendResponse]:
        return [RecommendResponse.model_validate(d) for d in self.respond_many(requests)]

    def recommend(self, request: RecommendRequest) -> RecommendResponse:
        return self.recommend_many([request])[0]

    def update_catalogue(self, request: CatalogueUpdateRequest) -> dict:
        """Publish a catalogue update from this process (no token: the caller is trusted; what
        ``crossrec catalogue`` runs). Returns the :class:`CatalogueUpdateResponse` dict."""
        from crossrec.serve.admin import CatalogueAdmin

        admin = CatalogueAdmin(self.catalog, self.pipeline.item_vectors)
        return self._loop.run_until_complete(admin.apply(request))


__all__ = ["HandleCalls", "Job", "LocalCalls", "Pipeline", "RecommendationService", "build_response",
           "local_pipeline", "local_stages"]
