"""The HTTP API as a plain class: one FastAPI app per :class:`HttpFrontend`, the same routes in every layout.

No ``from __future__ import annotations`` here: FastAPI resolves the route annotations at runtime.

- Composed and fused Serve layouts: the Ingress replica builds a frontend and hands Serve its ``api``
  (``serve.ingress()`` with ``__serve_build_asgi_app__``, applied by the app builder).
- Plain FastAPI app in one uvicorn process (what a user would build instead; the benchmark's reference):
  :func:`plain_app`.

Responses are serialised once: the pipeline's dicts go out as JSON bytes; ``response_model`` only documents
them (FastAPI does not re-validate a returned ``Response``). Request bodies are validated once by pydantic,
strictly (no type coercion; 422 naming the field).
"""

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from crossrec.serve.admin import CatalogueAdmin
from crossrec.serve.inference import RequestError
from crossrec.serve.metrics import NullMetrics
from crossrec.serve.pipeline import Job, Pipeline, local_pipeline
from crossrec.serve.schemas import (
    BatchRequest,
    BatchResponse,
    CatalogueUpdateRequest,
    CatalogueUpdateResponse,
    DomainInfo,
    DomainsResponse,
    RecommendRequest,
    RecommendResponse,
)

# Ray errors meaning "a replica is gone or not ready yet": the client should retry (HTTP 503).
_UNAVAILABLE = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError",
                "BackPressureError", "DeploymentUnavailableError", "RequestCancelledError", "StaleBundleError",
                "GetTimeoutError")


def unavailable(err: BaseException | None, depth: int = 0) -> bool:
    """True when ``err`` (or what it wraps: a task error's cause) means a replica was lost: retry."""
    if err is None or depth > 5:
        return False
    if any(c.__name__ in _UNAVAILABLE for c in type(err).__mro__):
        return True
    return unavailable(getattr(err, "cause", None) or err.__cause__, depth + 1)


def _field_message(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    return f"{loc}: {err.get('msg', 'invalid value')}"


def _json(content: Any) -> Response:
    return Response(json.dumps(content, separators=(",", ":"), allow_nan=False), media_type="application/json")


class HttpFrontend:
    """The API over a :class:`Pipeline`. ``submit`` serves one job (default: alone; a Serve Ingress passes its
    ``@serve.batch`` method); ``readiness`` returns {stage: bundle version} of the stages behind it.
    ``admin``: catalogue updates (default: the token of ``CROSSREC_ADMIN_TOKEN``, vectors from the Encoder)."""

    def __init__(self, pipeline: Pipeline, max_body_bytes: int = 1_000_000, metrics: Any = None,
                 submit: Callable[[Job], Awaitable[dict]] | None = None,
                 readiness: Callable[[], Awaitable[dict[str, str]]] | None = None,
                 encoder_stats: Callable[[], Awaitable[dict]] | None = None, name: str = "Ingress",
                 admin: CatalogueAdmin | None = None) -> None:
        self.pipeline = pipeline
        self.admin = admin or CatalogueAdmin.from_env(pipeline.catalog, pipeline.item_vectors)
        self.catalog = pipeline.catalog
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics or NullMetrics()
        self.submit = submit or self._alone
        self.readiness = readiness
        self.encoder_stats = encoder_stats
        self.name = name  # this process's key in /ready's "deployments"
        self.api = self._build_api()

    async def _alone(self, job: Job) -> dict:
        return (await self.pipeline.run([job]))[0]

    async def _checked(self, request: Request, work: Callable[[], Awaitable[Any]], endpoint: str,
                       targets: list[str]) -> Response:
        """Run ``work``, mapping errors to HTTP statuses; count every request of the call by its status."""
        t0, status = time.perf_counter(), 500
        try:
            size = int(request.headers.get("content-length") or 0)
            if size > self.max_body_bytes:
                status = 413
                raise HTTPException(413, f"body: {size} bytes exceeds the limit of {self.max_body_bytes}")
            result = _json(await work())
            status = 200
            return result
        except RequestError as err:
            status = err.status
            raise HTTPException(err.status, str(err),
                                headers={"WWW-Authenticate": "Bearer"} if err.status == 401 else None) from None
        except HTTPException:
            raise
        except Exception as err:
            if unavailable(err):
                status = 503
                raise HTTPException(503, f"backend temporarily unavailable ({type(err).__name__}); retry",
                                    headers={"Retry-After": "1"}) from None
            raise
        finally:
            for target in targets:  # a client's unknown target is not a new time series: "-"
                self.metrics.request(target if target in self.catalog.targets else "-", endpoint, status,
                                     time.perf_counter() - t0)

    def _build_api(self) -> FastAPI:
        api = FastAPI(title="crossrec", description="Cross-domain recommendations from a crossrec model bundle.",
                      version="1")
        pipeline, catalog = self.pipeline, self.catalog

        @api.exception_handler(RequestValidationError)
        async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
            self.metrics.request("-", request.url.path.strip("/").replace("/", "_") or "-", 422)
            messages = [_field_message(e) for e in exc.errors()]
            return JSONResponse(status_code=422, content={"detail": "; ".join(messages), "errors": messages})

        @api.post("/recommend", response_model=RecommendResponse)
        async def recommend(body: RecommendRequest, request: Request) -> Response:
            async def one() -> dict:
                return await self.submit(pipeline.job(body))
            return await self._checked(request, one, "recommend", [body.target_domain])

        @api.post("/recommend/batch", response_model=BatchResponse)
        async def recommend_batch(body: BatchRequest, request: Request) -> Response:
            async def all_of() -> dict:
                jobs = []
                for pos, req in enumerate(body.requests):
                    try:
                        jobs.append(pipeline.job(req))
                    except RequestError as err:
                        raise RequestError(f"requests[{pos}].{err.field}", str(err).split(": ", 1)[1],
                                           err.status) from None
                return {"responses": await pipeline.run(jobs)}
            return await self._checked(request, all_of, "recommend_batch", [r.target_domain for r in body.requests])

        @api.get("/healthz")
        async def healthz() -> dict:
            """Liveness (cheap; no call to other stages)."""
            return {"status": "ok", "model_version": catalog.version}

        @api.get("/ready")
        async def ready() -> JSONResponse:
            """Readiness: 200 only when every stage answers with this bundle's version; else 503."""
            try:
                versions = await self.readiness() if self.readiness else {}
            except Exception as err:
                return JSONResponse(status_code=503, content={"detail": f"not ready: {type(err).__name__}"})
            versions = {self.name: catalog.version, **versions}
            if set(versions.values()) != {catalog.version}:
                return JSONResponse(status_code=503, content={"detail": f"bundle versions differ: {versions}"})
            return JSONResponse({"status": "ready", "model_version": catalog.version, "deployments": versions})

        @api.get("/domains", response_model=DomainsResponse)
        async def domains() -> DomainsResponse:
            index, overlay = catalog.index, catalog.store.current()
            return DomainsResponse(model_version=catalog.version, catalogue_version=overlay.version, domains=[
                DomainInfo(domain=d, catalogue_size=int(len(index.domain_items(d))) + overlay.domain_delta(d, index),
                           servable=d in catalog.targets)
                for d in index.domains])

        @api.post("/admin/catalogue", response_model=CatalogueUpdateResponse)
        async def update_catalogue(body: CatalogueUpdateRequest, request: Request,
                                   authorization: str | None = Header(None)) -> Response:
            """Add items (embedded by the Encoder) and remove items, published as one new catalogue version that
            every Ranker uses from its next call. ``Authorization: Bearer <CROSSREC_ADMIN_TOKEN>``."""
            async def publish() -> dict:
                self.admin.authorize(authorization)
                return await self.admin.apply(body)
            return await self._checked(request, publish, "admin_catalogue", [])

        if self.encoder_stats is not None:
            @api.get("/debug/encoder")
            async def encoder_stats() -> dict:
                """Which targets an Encoder replica has loaded (multiplexing check)."""
                return await self.encoder_stats()

        return api


def local_frontend(bundle: str | Path, device: str = "cpu", max_history: int = 200,
                   max_body_bytes: int = 1_000_000, metrics: Any = None, cache_capacity: int = 8,
                   name: str = "Service", ann_min_items: int | None = None,
                   catalogue_dir: str | Path | None = None) -> HttpFrontend:
    """A frontend whose stages run in this process (the fused layout and the plain app)."""
    pipeline, _ = local_pipeline(bundle, device, max_history, metrics, cache_capacity, ann_min_items, preload=True,
                                 catalogue_dir=catalogue_dir)
    return HttpFrontend(pipeline, max_body_bytes, metrics, name=name)


def plain_app(bundle: str | Path | None = None) -> FastAPI:
    """The whole pipeline as one FastAPI app (no Ray): ``uvicorn --factory crossrec.serve.http:plain_app`` with
    ``CROSSREC_BUNDLE`` set, or call with a bundle path."""
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("CROSSREC_TORCH_THREADS", "1")))
    from crossrec.serve.catalogue import default_catalogue_dir

    path = bundle or os.environ.get("CROSSREC_BUNDLE")
    if not path:
        raise SystemExit("plain_app: set CROSSREC_BUNDLE to a crossrec bundle directory")
    return local_frontend(path, catalogue_dir=os.environ.get("CROSSREC_CATALOGUE") or default_catalogue_dir(str(path))).api


__all__ = ["HttpFrontend", "local_frontend", "plain_app", "unavailable"]
