"""Thin Serve wrappers over :mod:`crossrec.serve.inference` (no logic of their own beyond plumbing).

No ``from __future__ import annotations`` here: FastAPI resolves the endpoint annotations at runtime,
inside Serve's replicas and proxy. Ingress (FastAPI) ─► Encoder (per-target heads multiplexed by target domain, requests batched)
                 ─► Fusion ─► Ranker (each target's item matrix). Deployment options are applied by
:func:`crossrec.serve.app.build_app`, not here.
"""


import asyncio
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve

from crossrec.serve.inference import (
    BundleCatalog,
    CatalogueRanker,
    HistoryResolver,
    InterestFusion,
    RequestError,
    ResolvedHistory,
    TargetHeadsCache,
    build_response,
    encode_histories,
)
from crossrec.serve.schemas import (
    BatchRequest,
    BatchResponse,
    DomainInfo,
    DomainsResponse,
    RecommendRequest,
    RecommendResponse,
)

api = FastAPI(title="crossrec", description="Cross-domain recommendations from a crossrec model bundle.",
              version="1")


def _field_message(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    return f"{loc}: {err.get('msg', 'invalid value')}"


@api.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    messages = [_field_message(e) for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": "; ".join(messages), "errors": messages})


@serve.deployment
class Encoder:
    """History → interests. One replica keeps several targets' heads (multiplexed) and batches requests."""

    def __init__(self, bundle: str, device: str = "cpu") -> None:
        self.catalog = BundleCatalog(bundle, device)
        self.loads = 0

    @serve.multiplexed(max_num_models_per_replica=4)
    async def get_heads(self, target: str):
        self.loads += 1
        return self.catalog.load_target(target)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _encode_batch(self, targets: list[str], histories: list[ResolvedHistory]) -> list[dict]:
        out: list[dict | None] = [None] * len(targets)
        for target in dict.fromkeys(targets):
            rows = [i for i, t in enumerate(targets) if t == target]
            enc = encode_histories(await self.get_heads(target), [histories[i] for i in rows])
            for j, i in enumerate(rows):
                out[i] = {"source": enc["source"][j:j + 1], "target": enc["target"][j:j + 1], "domain": enc["domain"],
                          "has_target": enc["has_target"][j:j + 1]}
        return out  # type: ignore[return-value]

    async def encode(self, target: str, history: ResolvedHistory, batched: bool = True) -> dict:
        if batched:
            return await self._encode_batch(target, history)
        enc = encode_histories(await self.get_heads(target), [history])
        return enc

    def stats(self) -> dict:
        return {"loaded_targets": self.loads, "replica": serve.get_replica_context().replica_tag}

    def check_health(self) -> None:
        if self.catalog.index is None:
            raise RuntimeError("bundle not loaded")


@serve.deployment
class Fusion:
    """Interests → fused user vector (each target's fusion weights, LRU-cached)."""

    def __init__(self, bundle: str, device: str = "cpu", max_targets: int = 8) -> None:
        self.fusion = InterestFusion(TargetHeadsCache(BundleCatalog(bundle, device), max_targets))

    def fuse(self, target: str, interests: dict) -> np.ndarray:
        return self.fusion.fuse(target, interests)


@serve.deployment
class Ranker:
    """Top-k over a target's catalogue with seen-item exclusion; popularity for cold starts."""

    def __init__(self, bundle: str, device: str = "cpu", preload: list[str] | None = None) -> None:
        catalog = BundleCatalog(bundle, device)
        heads = TargetHeadsCache(catalog, capacity=max(len(catalog.targets), 1))
        for target in preload or catalog.targets:
            heads.get(target)
        self.ranker = CatalogueRanker(catalog, heads)

    def rank(self, target: str, user: np.ndarray, history: ResolvedHistory, k: int, exclude_seen: bool):
        return self.ranker.rank(target, user, [history], k, [exclude_seen])[0]

    def popular(self, target: str, history: ResolvedHistory, k: int, exclude_seen: bool):
        return self.ranker.popular(target, history, k, exclude_seen)


@serve.deployment
@serve.ingress(api)
class Ingress:
    """HTTP API: validates requests, resolves histories, calls Encoder → Fusion → Ranker."""

    def __init__(self, encoder, fusion, ranker, bundle: str, max_history: int = 200, max_body_bytes: int = 1_000_000,
                 batching: bool = True) -> None:
        self.encoder, self.fusion, self.ranker = encoder, fusion, ranker
        self.catalog = BundleCatalog(Path(bundle), "cpu")
        self.resolver = HistoryResolver(self.catalog, max_len=max_history)
        self.max_history = max_history
        self.max_body_bytes = max_body_bytes
        self.batching = batching

    async def _one(self, req: RecommendRequest) -> RecommendResponse:
        if len(req.history) > self.max_history:
            raise RequestError("history", f"at most {self.max_history} items, got {len(req.history)}", 413)
        self.catalog.check_target(req.target_domain)
        hist = self.resolver.resolve(req)
        target = req.target_domain
        if hist.empty:
            items = await self.ranker.popular.remote(target, hist, req.k, req.exclude_seen)
            return build_response(self.catalog, req, hist, items, cold=True)
        interests = await self.encoder.options(multiplexed_model_id=target).encode.remote(target, hist, self.batching)
        user = await self.fusion.fuse.remote(target, interests)
        items = await self.ranker.rank.remote(target, user, hist, req.k, req.exclude_seen)
        return build_response(self.catalog, req, hist, items, cold=False)

    async def _checked(self, request: Request, coro):
        size = int(request.headers.get("content-length") or 0)
        if size > self.max_body_bytes:
            raise HTTPException(413, f"body: {size} bytes exceeds the limit of {self.max_body_bytes}")
        try:
            return await coro
        except RequestError as err:
            raise HTTPException(err.status, str(err)) from None

    @api.post("/recommend", response_model=RecommendResponse)
    async def recommend(self, body: RecommendRequest, request: Request) -> RecommendResponse:
        return await self._checked(request, self._one(body))

    @api.post("/recommend/batch", response_model=BatchResponse)
    async def recommend_batch(self, body: BatchRequest, request: Request) -> BatchResponse:
        async def all_of() -> BatchResponse:
            try:
                return BatchResponse(responses=list(await asyncio.gather(*(self._one(r) for r in body.requests))))
            except RequestError as err:
                raise RequestError(f"requests.{err.field}", str(err).split(": ", 1)[1], err.status) from None
        return await self._checked(request, all_of())

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "model_version": self.catalog.version}

    @api.get("/domains", response_model=DomainsResponse)
    async def domains(self) -> DomainsResponse:
        index = self.catalog.index
        return DomainsResponse(model_version=self.catalog.version, domains=[
            DomainInfo(domain=d, catalogue_size=int(len(index.domain_items(d))), servable=d in self.catalog.targets)
            for d in index.domains])

    @api.get("/debug/encoder")
    async def encoder_stats(self) -> dict:
        return await self.encoder.stats.remote()
