"""Service metrics: after a few requests, Ray's Prometheus endpoint shows crossrec's counters moved."""

from __future__ import annotations

import os
import re
import socket
import time

import httpx
import pytest

pytestmark = pytest.mark.ray


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(serve_bundle):
    """Ray with a known metrics port (reported every second) and the app on it: (app URL, metrics URL)."""
    import ray
    from ray import serve

    from crossrec.serve.app import build_app, export_serve_env

    export_serve_env()
    os.environ["RAY_metrics_report_interval_ms"] = "1000"
    metrics_port, port = free_port(), free_port()
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, _metrics_export_port=metrics_port)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"bundle": str(serve_bundle), "max_history": 50}), name="crossrec", route_prefix="/")
    yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    serve.shutdown()
    ray.shutdown()
    os.environ.pop("RAY_metrics_report_interval_ms", None)


def _value(text: str, name: str, **tags: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``tags``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in tags.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _scrape_until(url: str, done, timeout: float = 60.0) -> str:
    deadline = time.time() + timeout
    while True:
        text = httpx.get(url, timeout=5).text
        if done(text) or time.time() > deadline:
            return text
        time.sleep(1)


def test_counters_move_with_requests(served, serve_bundle) -> None:
    import pandas as pd

    app, metrics = served
    items = pd.read_parquet(serve_bundle / "items.parquet")
    music = items[items["domain"] == "music"]["item_id"].head(3).tolist()
    with httpx.Client(base_url=app, timeout=60) as client:
        for _ in range(3):
            assert client.post("/recommend", json={"history": [{"item_id": i} for i in music] + [{"item_id": "nope"}],
                                                   "target_domain": "movies"}).status_code == 200
        assert client.post("/recommend", json={"history": [], "target_domain": "movies"}).status_code == 200
        assert client.post("/recommend", json={"history": [], "target_domain": "podcasts"}).status_code == 404
        assert client.post("/recommend", json={"history": [], "target_domain": "movies", "k": "ten"}).status_code == 422

    def reported(t: str) -> bool:  # each replica reports on its own clock: wait until every one has
        return (_value(t, "ray_crossrec_requests_total", status="200") >= 4
                and _value(t, "ray_crossrec_requests_total", status="422") >= 1
                and _value(t, "ray_crossrec_history_items_total", kind="known") >= 9
                and _value(t, "ray_crossrec_batch_size_count", stage="ingress") >= 4
                and all(_value(t, "ray_crossrec_latency_ms_count", stage=s) >= 3 for s in ("total", "encode", "fuse", "rank")))

    text = _scrape_until(metrics, reported)
    assert _value(text, "ray_crossrec_requests_total", target="movies", endpoint="recommend", status="200") == 4
    assert _value(text, "ray_crossrec_requests_total", target="-", status="404") == 1  # no series per bad target
    assert _value(text, "ray_crossrec_requests_total", status="422") == 1
    assert _value(text, "ray_crossrec_cold_starts_total", target="movies") == 1
    assert _value(text, "ray_crossrec_history_items_total", target="movies", kind="unknown") == 3
    assert _value(text, "ray_crossrec_history_items_total", target="movies", kind="known") == 9
    for stage in ("total", "encode", "fuse", "rank"):
        assert _value(text, "ray_crossrec_latency_ms_count", target="movies", stage=stage) >= 3, stage
    assert _value(text, "ray_crossrec_batch_size_count", stage="ingress") >= 4
    assert re.search(r'ray_crossrec_latency_ms_bucket\{[^}]*deployment="Encoder"', text)  # Ray's replica tags
