"""The serving load benchmark behind ``bench/serve_load.py``: the local Serve graph under 1/8/32/64 concurrent
clients vs the in-process path, @serve.batch on and off.

Per load level: p50/p95/p99 latency, requests/s and errors (aiohttp clients on loopback, bounded by
``duration`` and ``max_requests``), and the CPU milliseconds each Serve process spent per request. The
in-process row is the same request path without Serve (JSON body → validation → resolve → encode → fuse →
rank → JSON response, one torch thread like each replica). Goals (2 CPUs): Serve p50 at 1 client ≤ 3×
in-process p50; req/s at 32 clients ≥ 5× req/s at 1 client; zero errors.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossrec.benchmarks.results import format_table, write_json
from crossrec.benchmarks.serving import ServeBenchConfig, request_bodies, resolve, start, stop
from crossrec.utils.io import atomic_write_text

COLUMNS = ["mode", "batching", "clients", "requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms"]


@dataclass
class LoadConfig(ServeBenchConfig):
    """Options of the load benchmark (``bench/serve_load.py`` flags)."""

    out: str = "docs/results/serving.json"
    duration: float = 15.0  # seconds per load level
    max_requests: int = 20_000  # request cap per load level


def in_process(bundle: Path, bodies: list[dict], n: int, mode: str = "in-process") -> dict:
    """The request path without Serve, one request at a time: latency percentiles and requests/s."""
    import torch

    from crossrec.serve.inference import RecommendationService
    from crossrec.serve.schemas import RecommendRequest

    torch.set_num_threads(1)
    service = RecommendationService(bundle)
    raw = [json.dumps(b) for b in bodies]
    service.recommend(RecommendRequest.model_validate_json(raw[0]))
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        service.recommend(RecommendRequest.model_validate_json(raw[i % len(raw)])).model_dump_json()
        lat.append(time.perf_counter() - t0)
    ms = np.asarray(lat) * 1000
    return {"mode": mode, "batching": "-", "clients": 1, "requests": n, "errors": 0,
            "rps": n / (ms.sum() / 1000), **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)}}


def measure(url: str, bodies: list[dict], clients: int, duration: float, max_requests: int) -> tuple[dict, dict]:
    """One load level: the row, and CPU ms per successful request of each Serve process."""
    from crossrec.serve.loadgen import run_load
    from crossrec.serve.processes import cpu_seconds, serve_processes

    procs = serve_processes()
    before = {p.name: cpu_seconds(p.pid) for p in procs}
    r = run_load(url, bodies, clients, duration_s=duration, max_requests=max_requests)
    row = {"mode": "serve", "clients": clients, **{k: v for k, v in r.as_dict().items() if k in COLUMNS}}
    return row, {"clients": clients, **cpu_ms_by_role(procs, before, per=max(r.requests, 1))}


def cpu_ms_by_role(procs, before: dict[str, float], per: float) -> dict[str, float]:
    """CPU milliseconds each Serve role (replicas of one deployment summed) used since ``before``, divided by
    ``per`` (requests served, or seconds slept)."""
    from crossrec.serve.processes import cpu_seconds

    ms: dict[str, float] = {}
    for p in procs:
        ms[p.role] = ms.get(p.role, 0.0) + (cpu_seconds(p.pid) - before[p.name]) * 1000 / per
    return {k: round(v, 2) for k, v in ms.items()}


def serving_goals(summary: dict) -> list[dict]:
    """The issue's serving goals as rows (``ratio_to_goal`` <= 1 is met: measured/goal for a ceiling,
    goal/measured for a floor)."""
    overhead, scaling, errors = summary["overhead_ratio_1_client"], summary["scaling_rps_ratio"], summary["errors"]
    return [
        {"goal": "Serve p50 at 1 client <= 3x the in-process p50", "measured": overhead,
         "ratio_to_goal": overhead / 3, "met": overhead <= 3},
        {"goal": f"req/s at {summary['scaling_clients']} clients >= 5x req/s at 1 client", "measured": scaling,
         "ratio_to_goal": 5 / scaling if scaling > 0 else float("inf"), "met": scaling >= 5},
        {"goal": "zero errors (all load levels, batching on and off)", "measured": errors,
         "ratio_to_goal": 0.0 if errors == 0 else float("inf"), "met": errors == 0},
    ]


def idle_cpu(seconds: float) -> dict[str, float]:
    """CPU milliseconds per second each Serve role spends with no request in flight (control loops, metrics,
    health checks): the background part of the per-request CPU figures."""
    from crossrec.serve.processes import cpu_seconds, serve_processes

    procs = serve_processes()
    before = {p.name: cpu_seconds(p.pid) for p in procs}
    time.sleep(seconds)
    return cpu_ms_by_role(procs, before, per=seconds)


def run_serve_load(cfg: LoadConfig) -> int:
    """Run the benchmark, print its tables and write ``cfg.out`` (JSON) and its ``.md``; the exit status."""
    bundle, target, port = resolve(cfg)
    bodies = request_bodies(bundle, target)
    levels = [1, 8] if cfg.quick else [1, 8, 32, 64]
    duration = 1.5 if cfg.quick else cfg.duration
    explain_bodies = [{**b, "explain": True} for b in bodies]  # top-10 with 3 reasons each
    rows = [in_process(bundle, bodies, 50 if cfg.quick else 500),
            in_process(bundle, explain_bodies, 50 if cfg.quick else 500, mode="in-process+explain")]
    cpu_rows, idle_ms_per_s = [], {}
    for batching in (True, False):
        url = start(bundle, port, batching=batching)
        try:
            from crossrec.serve.loadgen import run_load

            run_load(url, bodies, 4, duration_s=1.0, max_requests=40)  # warm-up (JIT paths, connections)
            if batching:
                time.sleep(1.0)
                idle_ms_per_s = idle_cpu(1.0 if cfg.quick else 5.0)
            for clients in levels:
                row, cpu = measure(url, bodies, clients, duration, cfg.max_requests)
                rows.append({**row, "batching": "on" if batching else "off"})
                cpu_rows.append({"batching": "on" if batching else "off", **cpu})
            for clients in (levels[:1] if cfg.quick else levels[:2]) if batching else ():
                row, _ = measure(url, explain_bodies, clients, duration, cfg.max_requests)
                rows.append({**row, "mode": "serve+explain", "batching": "on"})
        finally:
            stop()
    local = rows[0]
    on = {r["clients"]: r for r in rows if r["batching"] == "on" and r["mode"] == "serve"}
    explained = {r["clients"]: r for r in rows if r["mode"] == "serve+explain"}
    top = 32 if 32 in on else max(on)
    summary = {
        "overhead_ratio_1_client": on[1]["p50_ms"] / local["p50_ms"],
        "scaling_rps_ratio": on[top]["rps"] / on[1]["rps"],
        "scaling_clients": top,
        "errors": sum(r["errors"] for r in rows),
        "explain_p50_ratio_1_client": explained[1]["p50_ms"] / on[1]["p50_ms"],
        "explain_p50_ratio_in_process": rows[1]["p50_ms"] / local["p50_ms"],
    }
    summary["goals"] = serving_goals(summary)
    table = format_table(rows, COLUMNS)
    roles = sorted({k for c in cpu_rows for k in c} - {"batching", "clients"})
    cpu_table = format_table(cpu_rows, ["batching", "clients", *roles])
    print(table)
    print("\nCPU ms per request, by Serve process:\n" + cpu_table)
    idle_line = "Idle CPU ms per second (no requests), by Serve process: " + ", ".join(
        f"{k} {v:.1f}" for k, v in idle_ms_per_s.items())
    print("\n" + idle_line)
    print(f"\nServe p50 at 1 client / in-process p50: {summary['overhead_ratio_1_client']:.1f}x (goal <= 3x); "
          f"req/s at {top} vs 1 client: {summary['scaling_rps_ratio']:.1f}x (goal >= 5x); "
          f"errors: {summary['errors']}; explain: true costs {summary['explain_p50_ratio_1_client']:.1f}x the p50 at "
          f"1 client ({summary['explain_p50_ratio_in_process']:.1f}x in-process)")
    out = write_json(cfg.out, {"command": "python bench/serve_load.py " + " ".join(
                                   f"--{k.replace('_', '-')} {v}" for k, v in vars(cfg).items()
                                   if v not in (None, False, 0) and k != "quick") + (" --quick" if cfg.quick else ""),
                               "bundle": str(bundle), "target": target, "quick": cfg.quick,
                               "duration_s": duration, "results": rows, "cpu_ms_per_request": cpu_rows,
                               "idle_cpu_ms_per_s": idle_ms_per_s, **summary})
    atomic_write_text(out.with_suffix(".md"), f"# Serving load ({bundle}, target {target})\n\n{table}\n\n"
                      f"CPU ms per request, by Serve process:\n\n{cpu_table}\n\n{idle_line}\n")
    return 0
