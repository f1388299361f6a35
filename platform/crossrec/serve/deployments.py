"""Thin Serve wrappers over :mod:`crossrec.serve.inference` (no logic of their own beyond plumbing).

No ``from __future__ import annotations`` here: FastAPI resolves the endpoint annotations at runtime,
inside Serve's replicas and proxy. The graph::

    Ingress (FastAPI; @serve.batch gathers concurrent /recommend calls into one batch per target)
      ─► Encoder (per-target heads multiplexed by target domain)  (B, L) histories → interests (B, D)
      ─► Fusion                                                   interests → user vectors (B, D)
      ─► Ranker (each target's item matrix)                       (B, D) → top-k per row

One hop per deployment per *batch*, not per request: that is what keeps Serve's overhead small on two cores.
Deployment options are applied by :func:`crossrec.serve.app.build_app`, not here.

Readiness: every replica loads and checksum-verifies the bundle in its constructor (a corrupted bundle
never becomes ready), and the Ingress constructor waits until Encoder, Fusion and Ranker answer ``ready()``
with its own bundle version, so Serve routes no request before the whole graph has the same bundle loaded.
Every downstream call carries that version; a replica holding another one refuses (HTTP 503, retry).
"""


import asyncio
import functools
import time
from pathlib import Path

import numpy as np
import torch
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
    StaleBundleError,
    TargetHeadsCache,
    build_response,
    encode_histories,
    explain_rankings,
)
from crossrec.serve.metrics import ServeMetrics
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

# Ray errors meaning "a replica is gone or not ready yet": the client should retry (HTTP 503).
_UNAVAILABLE = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError",
                "BackPressureError", "DeploymentUnavailableError", "RequestCancelledError", "StaleBundleError",
                "GetTimeoutError")


def _unavailable(err: BaseException | None, depth: int = 0) -> bool:
    """True when ``err`` (or what it wraps: a task error's cause) means a replica was lost: retry."""
    if err is None or depth > 5:
        return False
    if any(c.__name__ in _UNAVAILABLE for c in type(err).__mro__):
        return True
    return _unavailable(getattr(err, "cause", None) or err.__cause__, depth + 1)


def _field_message(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    return f"{loc}: {err.get('msg', 'invalid value')}"


@functools.cache
def _handler_metrics() -> ServeMetrics:
    """The metrics of the process that runs the handler below (created there, on first use)."""
    return ServeMetrics()


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    _handler_metrics().request("-", request.url.path.strip("/").replace("/", "_") or "-", 422)
    messages = [_field_message(e) for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": "; ".join(messages), "errors": messages})


class _Part:
    """Replica plumbing shared by the four deployments: one torch thread, the verified bundle, readiness."""

    version: str | None = None

    def _load(self, bundle: str, device: str, threads: int) -> BundleCatalog:
        torch.set_num_threads(threads)  # replicas share the machine's cores: no intra-op oversubscription
        catalog = BundleCatalog(bundle, device)  # checksum-verifies every file of the bundle
        self.version = catalog.version
        return catalog

    def _check(self, version: str) -> None:
        if version != self.version:
            raise StaleBundleError(f"{type(self).__name__} replica serves bundle {self.version!r}, "
                                   f"the request expects {version!r}")

    def ready(self) -> str:
        """The bundle version this replica serves (only answered once its constructor has finished)."""
        self.check_health()
        return self.version  # type: ignore[return-value]

    def check_health(self) -> None:
        if not self.version:
            raise RuntimeError(f"{type(self).__name__}: bundle not loaded")


@serve.deployment
class Encoder(_Part):
    """Histories → interests for one target per call; targets' heads multiplexed by target domain."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1) -> None:
        self.catalog = self._load(bundle, device, threads)
        self.loads = 0
        self.metrics = ServeMetrics()

    @serve.multiplexed(max_num_models_per_replica=4)
    async def get_heads(self, target: str):
        self.loads += 1
        return self.catalog.load_target(target)

    async def encode(self, version: str, target: str, histories: list[ResolvedHistory]) -> dict:
        """B histories → {"source", "target", "hidden": (B, D), "domain": (D,), "has_target": (B,)}."""
        self._check(version)
        heads = await self.get_heads(target)
        with self.metrics.timed(target, "encode", rows=len(histories)):
            return encode_histories(heads, histories)

    async def explain(self, version: str, target: str, histories: list[ResolvedHistory],
                      ranked: list[list[tuple[int, float]]], n: list[int]) -> list:
        """Per row, per ranked item: (history item index, weight) pairs (only for requests with explain)."""
        self._check(version)
        heads = await self.get_heads(target)
        with self.metrics.timed(target, "explain", rows=len(histories)):
            return explain_rankings(heads, histories, ranked, n)

    def stats(self) -> dict:
        return {"loaded_targets": self.loads, "replica": serve.get_replica_context().replica_tag}


@serve.deployment
class Fusion(_Part):
    """Interests → fused user vectors (B, D) (each target's fusion weights, LRU-cached)."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1, max_targets: int = 8) -> None:
        self.fusion = InterestFusion(TargetHeadsCache(self._load(bundle, device, threads), max_targets))
        self.metrics = ServeMetrics()

    async def fuse(self, version: str, target: str, interests: dict) -> np.ndarray:
        self._check(version)
        with self.metrics.timed(target, "fuse"):
            return self.fusion.fuse(target, interests)


@serve.deployment
class Ranker(_Part):
    """Top-k over a target's catalogue with seen-item exclusion; popularity for cold starts."""

    def __init__(self, bundle: str, device: str = "cpu", threads: int = 1, preload: list[str] | None = None) -> None:
        catalog = self._load(bundle, device, threads)
        heads = TargetHeadsCache(catalog, capacity=max(len(catalog.targets), 1))
        for target in preload or catalog.targets:
            heads.get(target)
        self.ranker = CatalogueRanker(catalog, heads)
        self.metrics = ServeMetrics()

    async def rank(self, version: str, target: str, users: np.ndarray, histories: list[ResolvedHistory], k: int,
                   exclude_seen: list[bool]) -> list[list[tuple[int, float]]]:
        """users (B, D) → per row [(item index, score)] best first (k per row)."""
        self._check(version)
        with self.metrics.timed(target, "rank", rows=len(histories)):
            return self.ranker.rank(target, users, histories, k, exclude_seen)

    async def popular(self, version: str, target: str, history: ResolvedHistory, k: int, exclude_seen: bool):
        self._check(version)
        with self.metrics.timed(target, "popular"):
            return self.ranker.popular(target, history, k, exclude_seen)


Job = tuple[RecommendRequest, ResolvedHistory]


@serve.deployment
@serve.ingress(api)
class Ingress(_Part):
    """HTTP API: validates requests, resolves histories, calls Encoder → Fusion → Ranker once per batch."""

    async def __init__(self, encoder, fusion, ranker, bundle: str, max_history: int = 200,
                       max_body_bytes: int = 1_000_000, batching: bool = True, threads: int = 1,
                       max_batch_size: int = 32, batch_wait_timeout_s: float = 0.001) -> None:
        self.encoder, self.fusion, self.ranker = encoder, fusion, ranker
        self.catalog = self._load(str(Path(bundle)), "cpu", threads)
        self.resolver = HistoryResolver(self.catalog, max_len=max_history)
        self.max_history = max_history
        self.max_body_bytes = max_body_bytes
        self.batching = batching
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._encoders: dict[str, object] = {}  # target → Encoder handle routed by multiplexed model id
        self.metrics = ServeMetrics()
        versions = await self._child_versions(timeout_s=600)  # readiness: no route before the graph is loaded
        if set(versions.values()) != {self.version}:
            raise RuntimeError(f"deployments serve different bundles: {versions}, Ingress {self.version!r}")

    async def _child_versions(self, timeout_s: float) -> dict[str, str]:
        names = ("Encoder", "Fusion", "Ranker")
        calls = [h.ready.remote() for h in (self.encoder, self.fusion, self.ranker)]
        return dict(zip(names, await asyncio.wait_for(asyncio.gather(*calls), timeout_s), strict=True))

    def _encoder_for(self, target: str):
        if target not in self._encoders:
            self._encoders[target] = self.encoder.options(multiplexed_model_id=target)
        return self._encoders[target]

    def _job(self, req: RecommendRequest) -> Job:
        if len(req.history) > self.max_history:
            raise RequestError("history", f"at most {self.max_history} items, got {len(req.history)}", 413)
        self.catalog.check_target(req.target_domain)
        hist = self.resolver.resolve(req)
        self.metrics.history(req.target_domain, known=int(hist.items.size), unknown=len(hist.unknown), cold=hist.empty)
        return req, hist

    async def _run(self, jobs: list[Job]) -> list[RecommendResponse]:
        """Serve ``jobs``: one Encoder → Fusion → Ranker chain per target (all of its rows), cold starts apart."""
        out: list[RecommendResponse | None] = [None] * len(jobs)
        v = self.version

        async def warm(target: str, rows: list[int]) -> None:
            hists = [jobs[i][1] for i in rows]
            interests = self._encoder_for(target).encode.remote(v, target, hists)
            users = self.fusion.fuse.remote(v, target, interests)  # passed on without a stop in this replica
            ranked = await self.ranker.rank.remote(v, target, users, hists, max(jobs[i][0].k for i in rows),
                                                   [jobs[i][0].exclude_seen for i in rows])
            ranked = [items[: jobs[i][0].k] for i, items in zip(rows, ranked, strict=True)]
            asked = [j for j, i in enumerate(rows) if jobs[i][0].explain]  # off by default: no extra call
            reasons: dict[int, list] = {}
            if asked:
                found = await self._encoder_for(target).explain.remote(
                    v, target, [hists[j] for j in asked], [ranked[j] for j in asked],
                    [jobs[rows[j]][0].explain_n for j in asked])
                reasons = {rows[j]: r for j, r in zip(asked, found, strict=True)}
            for i, items in zip(rows, ranked, strict=True):
                out[i] = build_response(self.catalog, jobs[i][0], jobs[i][1], items, cold=False,
                                        reasons=reasons.get(i))

        async def cold(i: int) -> None:
            req, hist = jobs[i]
            items = await self.ranker.popular.remote(v, req.target_domain, hist, req.k, req.exclude_seen)
            out[i] = build_response(self.catalog, req, hist, items, cold=True)

        by_target: dict[str, list[int]] = {}
        for i, (req, hist) in enumerate(jobs):
            if not hist.empty:
                by_target.setdefault(req.target_domain, []).append(i)
        await asyncio.gather(*(warm(t, rows) for t, rows in by_target.items()),
                             *(cold(i) for i, (_, hist) in enumerate(jobs) if hist.empty))
        return out  # type: ignore[return-value]

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.001, max_concurrent_batches=4)
    async def _batched(self, jobs: list[Job]) -> list[RecommendResponse]:
        self.metrics.batch("ingress", len(jobs))
        return await self._run(jobs)

    async def _checked(self, request: Request, coro, endpoint: str, targets: list[str]):
        """Await ``coro``, mapping errors to HTTP statuses; count every request of the call by its status."""
        t0, status = time.perf_counter(), 500
        try:
            size = int(request.headers.get("content-length") or 0)
            if size > self.max_body_bytes:
                coro.close()
                status = 413
                raise HTTPException(413, f"body: {size} bytes exceeds the limit of {self.max_body_bytes}")
            result = await coro
            status = 200
            return result
        except RequestError as err:
            status = err.status
            raise HTTPException(err.status, str(err)) from None
        except HTTPException:
            raise
        except Exception as err:
            if _unavailable(err):
                status = 503
                raise HTTPException(503, f"backend temporarily unavailable ({type(err).__name__}); retry",
                                    headers={"Retry-After": "1"}) from None
            raise
        finally:
            for target in targets:  # a client's unknown target is not a new time series: "-"
                self.metrics.request(target if target in self.catalog.targets else "-", endpoint, status,
                                     time.perf_counter() - t0)

    @api.post("/recommend", response_model=RecommendResponse)
    async def recommend(self, body: RecommendRequest, request: Request) -> RecommendResponse:
        async def one() -> RecommendResponse:
            job = self._job(body)
            return await self._batched(job) if self.batching else (await self._run([job]))[0]
        return await self._checked(request, one(), "recommend", [body.target_domain])

    @api.post("/recommend/batch", response_model=BatchResponse)
    async def recommend_batch(self, body: BatchRequest, request: Request) -> BatchResponse:
        async def all_of() -> BatchResponse:
            jobs = []
            for pos, req in enumerate(body.requests):
                try:
                    jobs.append(self._job(req))
                except RequestError as err:
                    raise RequestError(f"requests[{pos}].{err.field}", str(err).split(": ", 1)[1],
                                       err.status) from None
            return BatchResponse(responses=await self._run(jobs))
        return await self._checked(request, all_of(), "recommend_batch", [r.target_domain for r in body.requests])

    @api.get("/healthz")
    async def healthz(self) -> dict:
        """Liveness of the Ingress (cheap; no downstream call)."""
        return {"status": "ok", "model_version": self.catalog.version}

    @api.get("/ready")
    async def ready_endpoint(self) -> JSONResponse:
        """Readiness: 200 only when every deployment answers with this bundle's version; else 503."""
        try:
            versions = await self._child_versions(timeout_s=10)
        except Exception as err:
            return JSONResponse(status_code=503, content={"detail": f"not ready: {type(err).__name__}"})
        versions["Ingress"] = self.version
        if set(versions.values()) != {self.version}:
            return JSONResponse(status_code=503, content={"detail": f"bundle versions differ: {versions}"})
        return JSONResponse({"status": "ready", "model_version": self.version, "deployments": versions})

    @api.get("/domains", response_model=DomainsResponse)
    async def domains(self) -> DomainsResponse:
        index = self.catalog.index
        return DomainsResponse(model_version=self.catalog.version, domains=[
            DomainInfo(domain=d, catalogue_size=int(len(index.domain_items(d))), servable=d in self.catalog.targets)
            for d in index.domains])

    @api.get("/debug/encoder")
    async def encoder_stats(self) -> dict:
        return await self.encoder.stats.remote()
