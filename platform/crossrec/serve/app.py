"""Typed application builder: ``import_path: crossrec.serve.app:build_app`` in serve_configs/*.yaml.

``build_app(args)`` validates :class:`ServeAppConfig` first, then binds Ingress → Encoder → Fusion → Ranker with
per-deployment defaults that the YAML's ``deployments:`` section can override (autoscaling, resources).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from crossrec.config import StrictModel


class ServeAppConfig(StrictModel):
    bundle: str = Field(..., description="Model bundle directory (see `crossrec train`).")
    device: str = Field("cpu", description="Device of the Encoder/Fusion/Ranker replicas (cpu | cuda).")
    preload: list[str] | None = Field(None, description="Targets the Ranker loads at start (default: all).")
    max_history: int = Field(200, gt=0, le=10_000, description="History items accepted per request.")
    max_body_bytes: int = Field(1_000_000, gt=0, description="Larger request bodies get HTTP 413.")
    batching: bool = Field(True, description="Batch concurrent /recommend calls in the Ingress (@serve.batch): "
                                             "one Encoder → Fusion → Ranker chain per batch.")
    max_batch_size: int = Field(32, ge=1, le=1024, description="Largest @serve.batch batch.")
    batch_wait_timeout_s: float = Field(0.001, ge=0, le=1, description="How long a batch waits to fill.")
    torch_threads: int = Field(1, ge=1, le=64, description="torch intra-op threads per replica.")


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

# Per-deployment defaults for one 2-core machine (serve_configs/*.yaml override them field by field).
# max_ongoing_requests well above Serve's default of 5: one replica each must absorb 64 clients without
# the router's back-off; a quarter CPU each so the graph fits beside the Ray runtime.
# Health checks every 2 s (Serve's default is 10 s) so a crashed replica is replaced within seconds.
_HEALTH = {"health_check_period_s": 2, "health_check_timeout_s": 10}
DEPLOYMENT_DEFAULTS = {
    "Ingress": {"max_ongoing_requests": 256, **_HEALTH},
    "Encoder": {"max_ongoing_requests": 64, **_HEALTH},
    "Fusion": {"max_ongoing_requests": 64, **_HEALTH},
    "Ranker": {"max_ongoing_requests": 64, **_HEALTH},
}


def build_app(args: dict[str, Any] | ServeAppConfig):
    """The composed Serve application for ``args`` (what ``serve run`` / ``serve deploy`` call)."""
    from crossrec.errors import ConfigError
    from crossrec.serve.deployments import Encoder, Fusion, Ingress, Ranker

    args = ServeAppConfig.from_dict(args, source="serve application args")
    if not (Path(args.bundle) / "bundle.json").is_file():
        raise ConfigError(f"args.bundle: {args.bundle!r} is not a crossrec bundle directory")
    def opts(name: str) -> dict[str, Any]:
        return {**DEPLOYMENT_DEFAULTS[name], "logging_config": {"enable_access_log": name == "Ingress"},
                "ray_actor_options": {"num_cpus": 0.25, "runtime_env": {"env_vars": SERVE_ENV}}}

    threads = args.torch_threads
    encoder = Encoder.options(**opts("Encoder")).bind(args.bundle, args.device, threads)
    fusion = Fusion.options(**opts("Fusion")).bind(args.bundle, args.device, threads)
    ranker = Ranker.options(**opts("Ranker")).bind(args.bundle, args.device, threads, args.preload)
    return Ingress.options(**opts("Ingress")).bind(
        encoder, fusion, ranker, args.bundle, args.max_history, args.max_body_bytes, args.batching, threads,
        args.max_batch_size, args.batch_wait_timeout_s)


def run_local(bundle: str | Path, port: int = 8000, blocking: bool = True, metrics_port: int | None = None,
              **kwargs: Any) -> str:
    """Start Ray (embedded) and Serve on ``port`` with the app for ``bundle``; returns the base URL. The
    service metrics (:mod:`crossrec.serve.metrics`) are on ``http://127.0.0.1:<metrics_port>/metrics``."""
    import ray
    from ray import serve

    export_serve_env()
    if not ray.is_initialized():
        extra = {"_metrics_export_port": metrics_port} if metrics_port else {}
        ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
                 ignore_reinit_error=True, log_to_driver=False, **extra)
        if metrics_port:
            print(f"service metrics (Prometheus): http://127.0.0.1:{metrics_port}/metrics", flush=True)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"bundle": str(bundle), **kwargs}), name="crossrec", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
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
