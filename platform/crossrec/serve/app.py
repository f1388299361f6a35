"""Typed application builder: ``import_path: crossrec.serve.app:build_app`` in serve_configs/*.yaml.

``build_app(args)`` validates :class:`AppArgs` first, then binds Ingress → Encoder → Fusion → Ranker with
per-deployment defaults that the YAML's ``deployments:`` section can override (autoscaling, resources).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field

from crossrec.config import StrictModel


class AppArgs(StrictModel):
    bundle: str = Field(..., description="Model bundle directory (see `crossrec train`).")
    device: str = Field("cpu", description="Device of the Encoder/Fusion/Ranker replicas (cpu | cuda).")
    preload: list[str] | None = Field(None, description="Targets the Ranker loads at start (default: all).")
    max_history: int = Field(200, gt=0, le=10_000, description="History items accepted per request.")
    max_body_bytes: int = Field(1_000_000, gt=0, description="Larger request bodies get HTTP 413.")
    batching: bool = Field(True, description="Batch concurrent requests in the Encoder (@serve.batch).")


def build_app(args: dict[str, Any] | AppArgs):
    """The composed Serve application for ``args`` (what ``serve run`` / ``serve deploy`` call)."""
    from crossrec.errors import ConfigError
    from crossrec.serve.deployments import Encoder, Fusion, Ingress, Ranker

    args = AppArgs.from_dict(args, source="serve application args")
    if not (Path(args.bundle) / "bundle.json").is_file():
        raise ConfigError(f"args.bundle: {args.bundle!r} is not a crossrec bundle directory")
    cpu = {"num_cpus": 0.25}
    encoder = Encoder.options(ray_actor_options=cpu).bind(args.bundle, args.device)
    fusion = Fusion.options(ray_actor_options=cpu).bind(args.bundle, args.device)
    ranker = Ranker.options(ray_actor_options=cpu).bind(args.bundle, args.device, args.preload)
    return Ingress.options(ray_actor_options={"num_cpus": 0.25}).bind(
        encoder, fusion, ranker, args.bundle, args.max_history, args.max_body_bytes, args.batching)


def run_local(bundle: str | Path, port: int = 8000, blocking: bool = True, **kwargs: Any) -> str:
    """Start Ray (embedded) and Serve on ``port`` with the app for ``bundle``; returns the base URL."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
                 ignore_reinit_error=True, log_to_driver=False)
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
