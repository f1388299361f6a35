"""The serving soak behind ``bench/serve_soak.py``: steady moderate load for a bounded time, RSS of every
Serve process sampled throughout, and the leak criterion.

Reports per process (replicas, proxy, controller) the RSS after warm-up, at the end, its growth and the
least-squares slope (MiB per minute) over the second half of the run, plus requests and errors. Growth
"beyond noise" is flagged when a process grows by more than ``tolerance_mb`` (default 20 MiB) over the run
and still grows by more than a quarter of that over the second half (slope x duration): a leak keeps
growing, while warm-up (caches, allocator arenas, lazily built routes) levels off.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from crossrec.benchmarks.results import format_table, write_json
from crossrec.benchmarks.serving import ServeBenchConfig, request_bodies, resolve, start, stop
from crossrec.serve.loadgen import run_load
from crossrec.serve.processes import rss_mb, serve_processes


@dataclass
class SoakConfig(ServeBenchConfig):
    """Options of the soak (``bench/serve_soak.py`` flags)."""

    out: str = "docs/results/serve_soak.json"
    minutes: float = 10.0  # soak duration after warm-up
    clients: int = 4  # concurrent clients (moderate load)
    interval: float = 5.0  # seconds between RSS samples
    tolerance_mb: float = 20.0  # growth below this is noise


def sample(procs, series: dict[str, list[tuple[float, float]]], t: float) -> None:
    for p in procs:
        mb = rss_mb(p.pid)
        if mb is not None:
            series.setdefault(p.name, []).append((t, mb))


def leak_suspected(g: dict, tolerance_mb: float) -> bool:
    """Grew beyond noise over the run and kept growing through its second half."""
    return bool(g["growth_mb"] > tolerance_mb and g["growth_2nd_half_mb"] > tolerance_mb / 4)


def growth(points: list[tuple[float, float]]) -> dict:
    """RSS growth of one process: start/end MiB, growth, and slope (MiB/min) over the second half."""
    t = np.asarray([p[0] for p in points])
    mb = np.asarray([p[1] for p in points])
    half = t >= t[-1] / 2
    slope = float(np.polyfit(t[half] / 60, mb[half], 1)[0]) if half.sum() >= 3 else 0.0
    return {"rss_start_mb": round(float(mb[0]), 1), "rss_end_mb": round(float(mb[-1]), 1),
            "rss_max_mb": round(float(mb.max()), 1), "growth_mb": round(float(mb[-1] - mb[0]), 1),
            "slope_mb_per_min_2nd_half": round(slope, 2), "growth_2nd_half_mb": round(slope * float(t[-1]) / 120, 1),
            "samples": len(points)}


def run_serve_soak(cfg: SoakConfig) -> int:
    """Run the soak, print its tables and write ``cfg.out``; 0 without errors or a suspected leak."""
    bundle, target, port = resolve(cfg)
    seconds = 6.0 if cfg.quick else cfg.minutes * 60
    interval = 0.5 if cfg.quick else cfg.interval
    bodies = request_bodies(bundle, target, n=256)
    url = start(bundle, port)
    series: dict[str, list[tuple[float, float]]] = {}
    try:
        run_load(url, bodies, cfg.clients, duration_s=min(10.0, seconds / 4), max_requests=10**9)  # warm-up
        procs = serve_processes()
        roles = {p.name: p.role for p in procs}
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(
            load=run_load(url, bodies, cfg.clients, duration_s=seconds, max_requests=10**9)), daemon=True)
        t0 = time.perf_counter()
        thread.start()
        while thread.is_alive():
            sample(procs, series, time.perf_counter() - t0)
            thread.join(timeout=interval)
        sample(procs, series, time.perf_counter() - t0)
        alive_at_end = {p.name for p in serve_processes()}
    finally:
        stop()
    r = result["load"]
    rows = []
    for name, points in series.items():
        g = growth(points)
        g["leak_suspected"] = leak_suspected(g, cfg.tolerance_mb)
        rows.append({"process": roles[name], "replica": name.rsplit("#", 1)[-1], **g,
                     "restarted": name not in alive_at_end})
    load = {"seconds": round(r.seconds, 1), "clients": cfg.clients, "requests": r.requests + r.errors,
            "errors": r.errors, "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms}
    print(format_table(rows, ["process", "replica", "rss_start_mb", "rss_end_mb", "growth_mb",
                              "slope_mb_per_min_2nd_half", "growth_2nd_half_mb", "leak_suspected",
                              "restarted"]))
    print(format_table([load], list(load)))
    write_json(cfg.out, {"bundle": str(bundle), "target": target, "quick": cfg.quick,
                         "tolerance_mb": cfg.tolerance_mb, "results": rows, "load": load,
                         "rss_series": {roles[n] + ":" + n.rsplit("#", 1)[-1]: pts for n, pts in series.items()}})
    return 0 if r.errors == 0 and not any(row["leak_suspected"] for row in rows) else 1
