"""Typed application builder: ``import_path: crossrec.serve.app:build_app`` in serve_configs/*.yaml.

``build_app(args)`` validates :class:`ServeAppConfig` first, then applies ``serve.deployment`` to the replica
classes of :mod:`crossrec.serve.deployments` (the only place it is applied) with ``DEPLOYMENT_DEFAULTS``, which
the YAML's ``deployments:`` section overrides field by field (autoscaling, resources), and binds the stages by
keyword: Ingress → Encoder → Fusion → Ranker (``layout: composed``) or one ``Service`` (``layout: fused``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from crossrec.config import StrictModel


class ServeAppConfig(StrictModel):
    bundle: str = Field(..., description="Model bundle: a directory or a URI (s3://…, gs://…, file://…).")
    layout: Literal["composed", "fused"] = Field(
        "composed", description="composed: Ingress → Encoder → Fusion → Ranker deployments, each scaling on its "
                                "own; fused: one deployment running the whole pipeline (small services).")
    device: str = Field("cpu", description="Device of the model stages (cpu | cuda).")
    preload: list[str] | None = Field(None, description="Targets the Ranker loads at start (default: all).")
    max_history: int = Field(200, gt=0, le=10_000, description="History items accepted per request.")
    max_body_bytes: int = Field(1_000_000, gt=0, description="Larger request bodies get HTTP 413.")
    batching: bool = Field(True, description="Batch concurrent /recommend calls in the Ingress (@serve.batch): "
                                             "one Encoder → Fusion → Ranker chain per batch.")
    max_batch_size: int = Field(32, ge=1, le=1024, description="Largest @serve.batch batch.")
    batch_wait_timeout_s: float = Field(0.001, ge=0, le=1, description="How long a batch waits to fill.")
    torch_threads: int = Field(1, ge=1, le=64, description="torch intra-op threads per replica.")
    ann_min_items: int | None = Field(
        250_000, ge=1, description="Rank a target by its ANN index (built by `python jobs/build_ann.py`) when its "
                                   "catalogue has at least this many items and the bundle holds one; exact below "
                                   "(and always, when null). Seen-item exclusion stays exact.")
    catalogue: str | None = Field(
        None, description="Directory where catalogue updates (POST /admin/catalogue, `crossrec catalogue`) are "
                          "published and every Ingress/Ranker replica reads them: one filesystem all replicas see. "
                          "null: '<bundle>.catalogue' beside a local bundle directory; off for a bundle URI.")
    text_cache_items: int = Field(10_000, ge=0, le=10_000_000, description="Item text embeddings each Encoder "
                                  "replica keeps (LRU by domain and text hash) for history items read by their text.")
    stage_transport: Literal["grpc", "ray"] = Field(
        "grpc", description="How the composed graph's Ingress reaches its stages: grpc (Serve's replica-to-replica "
                            "gRPC, messages pickled) or ray (Ray object references).")


# Serve settings for every replica (env of its worker process): user code runs on the replica's event loop
# (no thread hop per request; our handlers are async and short) and request logs are buffered.
SERVE_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
             "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000", "RAY_SERVE_LOG_TO_STDERR": "0", "OMP_NUM_THREADS": "1"}

# Settings of the Serve controller, read from the environment of the process that starts Ray (they must be
# set before ``ray.init`` / ``ray start``). Serve gives a starting HTTP proxy 5 s to answer its first ready
# check, then kills it; on a busy 2-core machine a proxy's Python start-up alone can take longer, and
# ``serve.start`` then fails with "ProxyActor ... killed by ray.kill". 60 s is the time ``serve.start``
# waits for the proxy anyway.
CONTROLLER_ENV = {"RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60"}


def export_serve_env() -> None:
    """Put SERVE_ENV and CONTROLLER_ENV into this process's environment (values already set win).

    Call before ``ray.init``: the Serve controller and proxy inherit them from the process that starts Ray.
    """
    for key, value in {**SERVE_ENV, **CONTROLLER_ENV}.items():
        os.environ.setdefault(key, value)


# The one source of per-deployment defaults, for one 2-core machine; serve_configs/*.yaml's ``deployments:``
# override them field by field (and only list what differs: tests/test_repo_yaml.py checks).
# max_ongoing_requests well above Serve's default of 5: one replica each must absorb 64 clients without
# the router's back-off; a quarter CPU each so the graph fits beside the Ray runtime. Health checks every
# 2 s (Serve's default is 10 s) so a crashed replica is replaced within seconds.
_HEALTH = {"health_check_period_s": 2, "health_check_timeout_s": 10}
_QUARTER_CPU = {"num_cpus": 0.25}
DEPLOYMENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "Ingress": {"max_ongoing_requests": 256, "ray_actor_options": _QUARTER_CPU, **_HEALTH},
    "Encoder": {"max_ongoing_requests": 64, "ray_actor_options": _QUARTER_CPU, **_HEALTH},
    "Fusion": {"max_ongoing_requests": 64, "ray_actor_options": _QUARTER_CPU, **_HEALTH},
    "Ranker": {"max_ongoing_requests": 64, "ray_actor_options": _QUARTER_CPU, **_HEALTH},
    "Service": {"max_ongoing_requests": 256, "ray_actor_options": {"num_cpus": 1}, **_HEALTH},
}
LAYOUT_DEPLOYMENTS = {"composed": ("Ingress", "Encoder", "Fusion", "Ranker"), "fused": ("Service",)}


def deployment(cls: type, name: str, ingress: bool = False):
    """``serve.deployment`` of replica class ``cls`` named ``name``, with DEPLOYMENT_DEFAULTS[name] (the access
    log only on the HTTP entry; SERVE_ENV in every replica's worker)."""
    from ray import serve

    opts = DEPLOYMENT_DEFAULTS[name]
    actor = {**opts["ray_actor_options"], "runtime_env": {"env_vars": SERVE_ENV}}
    return serve.deployment(serve.ingress()(cls) if ingress else cls, name=name).options(
        **{**opts, "ray_actor_options": actor}, logging_config={"enable_access_log": ingress})


def build_app(args: dict[str, Any] | ServeAppConfig):
    """The Serve application for ``args`` (what ``serve run`` / ``serve deploy`` call): the composed graph, or
    with ``layout: fused`` one deployment running the whole pipeline. Stages are bound by keyword."""
    from crossrec.errors import ConfigError
    from crossrec.serve.catalogue import default_catalogue_dir
    from crossrec.serve.deployments import (
        EncoderReplica,
        FusedReplica,
        FusionReplica,
        IngressReplica,
        RankerReplica,
    )
    from crossrec.utils.storage import exists, is_uri

    args = ServeAppConfig.from_dict(args, source="serve application args")
    if is_uri(args.bundle):  # every replica stages it (verified) into its node's cache
        if not exists(f"{args.bundle.rstrip('/')}/manifest.json"):
            raise ConfigError(f"args.bundle: {args.bundle!r} holds no complete crossrec bundle (manifest.json missing)")
    elif not (Path(args.bundle) / "bundle.json").is_file():
        raise ConfigError(f"args.bundle: {args.bundle!r} is not a crossrec bundle directory")
    common = {"bundle": args.bundle, "threads": args.torch_threads}
    catalogue = args.catalogue or default_catalogue_dir(args.bundle)
    http = {"max_history": args.max_history, "max_body_bytes": args.max_body_bytes, "batching": args.batching,
            "max_batch_size": args.max_batch_size, "batch_wait_timeout_s": args.batch_wait_timeout_s,
            "catalogue": catalogue}
    if args.layout == "fused":
        return deployment(FusedReplica, "Service", ingress=True).bind(device=args.device,
                                                                      ann_min_items=args.ann_min_items, **common, **http)
    return deployment(IngressReplica, "Ingress", ingress=True).bind(
        encoder=deployment(EncoderReplica, "Encoder").bind(device=args.device, text_cache_items=args.text_cache_items,
                                                           **common),
        fusion=deployment(FusionReplica, "Fusion").bind(device=args.device, **common),
        ranker=deployment(RankerReplica, "Ranker").bind(device=args.device, preload=args.preload,
                                                        ann_min_items=args.ann_min_items, catalogue=catalogue, **common),
        transport=args.stage_transport, **common, **http)


def direct_ingress_env(port: int) -> dict[str, str]:
    """Process environment for Ray Serve's throughput-optimised mode with *direct ingress*: the HTTP entry
    replica (Ingress, or the fused Service) listens on its own port, from ``port + 1`` up, so a client (or a load
    balancer, e.g. Ray's HAProxy mode) skips the proxy hop; also gRPC between replicas and a frozen GC after
    start. Read when Ray's processes start: set it before ``ray.init`` / ``ray start``."""
    return {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port + 1),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 100)}


def run_local(bundle: str | Path, port: int = 8000, blocking: bool = True, metrics_port: int | None = None,
              direct_ingress: bool = False, **kwargs: Any) -> str:
    """Start Ray (embedded) and Serve on ``port`` with the app for ``bundle``; returns the base URL (the
    proxy's; with ``direct_ingress`` the entry replica's own, see :func:`direct_ingress_env`). The service
    metrics (:mod:`crossrec.serve.metrics`) are on ``http://127.0.0.1:<metrics_port>/metrics``."""
    import ray

    from crossrec.errors import ConfigError

    export_serve_env()
    if direct_ingress:
        env = direct_ingress_env(port)
        if ray.is_initialized() and any(os.environ.get(k) != v for k, v in env.items()):
            raise ConfigError("direct_ingress: Ray is already running without it; it must be set before Ray starts")
        os.environ.update(env)
    from ray import serve

    if not ray.is_initialized():
        extra = {"_metrics_export_port": metrics_port} if metrics_port else {}
        ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
                 ignore_reinit_error=True, log_to_driver=False, **extra)
        if metrics_port:
            print(f"service metrics (Prometheus): http://127.0.0.1:{metrics_port}/metrics", flush=True)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"bundle": str(bundle), **kwargs}), name="crossrec", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    if direct_ingress:
        from crossrec.serve.processes import direct_ingress_urls

        direct = direct_ingress_urls(port + 1, port + 100)
        print(f"direct ingress (no proxy hop): {', '.join(direct)}", flush=True)
        url = direct[0]
    print(f"crossrec serving {bundle} at {url}  (docs: {url}/docs)", flush=True)
    if blocking:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            serve.shutdown()
    return url


def serve_smoke_test(bundle: str | Path, target: str, port: int = 8765) -> list[dict]:
    """Serve ``bundle``, send a few real requests (history, cold start, batch), shut Serve down."""
    import httpx
    import pandas as pd
    from ray import serve

    url = run_local(bundle, port=port, blocking=False)
    items = pd.read_parquet(Path(bundle) / "items.parquet")
    others = items[items["domain"] != target]["item_id"].head(5).tolist()
    mine = items[items["domain"] == target]["item_id"].head(2).tolist()
    requests = [
        {"user_id": "u-source-only", "history": [{"item_id": i} for i in others], "target_domain": target, "k": 5},
        {"user_id": "u-mixed", "history": [{"item_id": i} for i in others + mine], "target_domain": target, "k": 5},
        {"user_id": "u-new", "history": [{"item_id": "never-seen"}], "target_domain": target, "k": 5},
    ]
    out = []
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for body in requests:
                resp = client.post("/recommend", json=body)
                resp.raise_for_status()
                data = resp.json()
                out.append(data)
                print(f"POST /recommend {body['user_id']}: cold_start={data['cold_start']} "
                      f"unknown={data['unknown_items']} top={[i['item_id'] for i in data['items'][:3]]}")
            print(f"GET /domains: {client.get('/domains').json()['domains']}")
    finally:
        serve.shutdown()
    return out
