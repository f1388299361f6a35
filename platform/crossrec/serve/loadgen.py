"""Bounded async HTTP load generator (loopback only): latency percentiles, requests/s, errors, retries.

``concurrency`` clients (coroutines, each with an ``httpx.AsyncClient`` and one kept-alive connection) send
POST /recommend bodies round-robin until ``duration_s`` or ``max_requests`` is reached. With ``retries > 0`` a
request that gets HTTP 502/503/504 or a connection error is retried (bounded, with a short back-off); a request
still failing after its retries counts as failed. ``events`` records (seconds since start, ok) per finished
request, so a caller can see when failures happened (recovery time under faults).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RETRYABLE = {502, 503, 504}
TIMEOUT_S = 30.0


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
    retried: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    events: list[tuple[float, bool]] = field(default_factory=list, repr=False)

    def as_dict(self, events: bool = False) -> dict:
        out = asdict(self)
        if not events:
            out.pop("events")
        return out


def summarize(concurrency: int, latencies: list[float], errors: int, seconds: float, **extra) -> LoadResult:
    """``latencies`` (s) of the successful requests → a :class:`LoadResult` (ms percentiles, ok req/s)."""
    lat = np.asarray(latencies or [np.nan]) * 1000
    return LoadResult(concurrency, len(latencies), errors, seconds, len(latencies) / max(seconds, 1e-9),
                      *(float(np.percentile(lat, q)) for q in (50, 95, 99)), **extra)


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback addresses, got {host!r}")


async def _run(url: str, bodies: list[dict], concurrency: int, duration_s: float, max_requests: int,
               retries: int, path: str, stop: threading.Event | None) -> LoadResult:
    import httpx

    check_loopback(url)
    latencies: list[float] = []
    events: list[tuple[float, bool]] = []
    statuses: Counter[str] = Counter()
    errors = retried = sent = 0
    start = time.perf_counter()
    deadline = start + duration_s
    # Each client has its own AsyncClient holding one kept-alive connection (re-opened after a close); one
    # shared pool of ``concurrency`` connections would serialise every request on httpcore's pool lock (249
    # requests/s at 32 clients against a trivial server, 740 with a pool per client). 30 s per connect/read/
    # write; no proxy from the environment (the target is loopback).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def attempt(client: httpx.AsyncClient, body: dict) -> int:
        try:
            r = await client.post(path, json=body)  # reads the whole body
            return r.status_code
        except (httpx.TransportError, OSError):
            return 0  # connection refused / reset / timed out (httpx.TimeoutException is a TransportError)

    async def worker() -> None:
        nonlocal errors, retried, sent
        async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(TIMEOUT_S), limits=limits,
                                     trust_env=False) as client:
            while time.perf_counter() < deadline and sent < max_requests and not (stop and stop.is_set()):
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                status = await attempt(client, body)
                for n in range(retries):
                    if status not in RETRYABLE and status != 0:
                        break
                    retried += 1
                    await asyncio.sleep(min(0.05 * 2**n, 1.0))
                    status = await attempt(client, body)
                statuses[str(status)] += 1
                ok = status == 200
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
                events.append((time.perf_counter() - start, ok))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(concurrency, latencies, errors, time.perf_counter() - start, retried=retried,
                     statuses=dict(statuses), events=events)


def run_load(url: str, bodies: list[dict], concurrency: int, duration_s: float = 10.0, max_requests: int = 5000,
             retries: int = 0, path: str = "/recommend", stop: threading.Event | None = None) -> LoadResult:
    """Send POST ``path`` requests from ``concurrency`` clients until the duration or request cap is reached
    (or ``stop`` is set, from another thread)."""
    return asyncio.run(_run(url, bodies, concurrency, duration_s, max_requests, retries, path, stop))
