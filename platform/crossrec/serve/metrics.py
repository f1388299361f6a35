"""Service metrics of the Serve app, exported through ``ray.serve.metrics`` to Ray's Prometheus endpoint.

Every replica creates its own :class:`ServeMetrics` (metric objects must live in the replica's process); Ray
adds ``deployment``, ``replica`` and ``application`` tags and exports them as ``ray_<name>`` on each node's
metrics port (``ray start --metrics-export-port=8080``; ``crossrec serve`` uses 8080 too). Names:

    ray_crossrec_requests_total{target, endpoint, status}          requests by HTTP status (errors included)
    ray_crossrec_latency_ms_bucket{target, stage}                  per stage: total (Ingress), encode, fuse, rank, popular, explain
    ray_crossrec_cold_starts_total{target}                         requests answered by the popularity fallback
    ray_crossrec_history_items_total{target, kind}                 history items: known | unknown
    ray_crossrec_batch_size_bucket{stage}                          rows per call: ingress (@serve.batch), encode

Queries for a dashboard are in docs/operations.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

LATENCY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]

__all__ = ["NullMetrics", "ServeMetrics"]


class ServeMetrics:
    """The app's counters and histograms (create one per replica, inside it)."""

    def __init__(self) -> None:
        from ray.serve import metrics

        self.requests = metrics.Counter("crossrec_requests", description="Recommendation requests by target, "
                                        "endpoint and HTTP status.", tag_keys=("target", "endpoint", "status"))
        self.latency = metrics.Histogram("crossrec_latency_ms", description="Milliseconds per call, by target and "
                                         "stage.", boundaries=LATENCY_MS, tag_keys=("target", "stage"))
        self.cold_starts = metrics.Counter("crossrec_cold_starts", description="Requests answered by the "
                                           "popularity fallback (no usable history).", tag_keys=("target",))
        self.history_items = metrics.Counter("crossrec_history_items", description="History items by kind "
                                             "(known: in the catalogue; unknown: dropped).", tag_keys=("target", "kind"))
        self.batch_size = metrics.Histogram("crossrec_batch_size", description="Rows per call, by stage.",
                                            boundaries=BATCH_SIZES, tag_keys=("stage",))

    def request(self, target: str, endpoint: str, status: int, seconds: float | None = None) -> None:
        self.requests.inc(1, tags={"target": target, "endpoint": endpoint, "status": str(status)})
        if seconds is not None and status < 400:
            self.latency.observe(seconds * 1000, tags={"target": target, "stage": "total"})

    def stage(self, target: str, stage: str, seconds: float, rows: int | None = None) -> None:
        self.latency.observe(seconds * 1000, tags={"target": target, "stage": stage})
        if rows is not None:
            self.batch_size.observe(rows, tags={"stage": stage})

    @contextmanager
    def timed(self, target: str, stage: str, rows: int | None = None) -> Iterator[None]:
        """Observe the wall time of the ``with`` body as ``stage`` (and ``rows`` as its batch size)."""
        t0 = time.perf_counter()
        yield
        self.stage(target, stage, time.perf_counter() - t0, rows)

    def history(self, target: str, known: int, unknown: int, cold: bool) -> None:
        if known:
            self.history_items.inc(known, tags={"target": target, "kind": "known"})
        if unknown:
            self.history_items.inc(unknown, tags={"target": target, "kind": "unknown"})
        if cold:
            self.cold_starts.inc(1, tags={"target": target})

    def batch(self, stage: str, rows: int) -> None:
        self.batch_size.observe(rows, tags={"stage": stage})


class NullMetrics:
    """The :class:`ServeMetrics` interface doing nothing: stages and the pipeline outside Serve (tests, the
    in-process path, the plain FastAPI app)."""

    def request(self, *args, **kwargs) -> None:
        pass

    @contextmanager
    def timed(self, *args, **kwargs) -> Iterator[None]:
        yield

    stage = history = batch = request
