"""Bounded async HTTP load generator (loopback only): latency percentiles, requests/s, errors."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(concurrency: int, latencies: list[float], errors: int, seconds: float) -> LoadResult:
    lat = np.asarray(latencies or [np.nan]) * 1000
    return LoadResult(concurrency, len(latencies), errors, seconds, len(latencies) / max(seconds, 1e-9),
                      *(float(np.percentile(lat, q)) for q in (50, 95, 99)))


async def _run(url: str, bodies: list[dict], concurrency: int, duration_s: float, max_requests: int) -> LoadResult:
    import httpx

    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback addresses, got {host!r}")
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker(w: int) -> None:
            nonlocal errors, sent
            while time.perf_counter() < deadline and sent < max_requests:
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/recommend", json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return summarize(concurrency, latencies, errors, time.perf_counter() - t0)


def run_load(url: str, bodies: list[dict], concurrency: int, duration_s: float = 10.0,
             max_requests: int = 5000) -> LoadResult:
    """Send ``/recommend`` requests from ``concurrency`` clients until the duration or request cap is reached."""
    return asyncio.run(_run(url, bodies, concurrency, duration_s, max_requests))
