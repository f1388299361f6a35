"""The serving load benchmark behind ``bench/serve_load.py``: one request path, four ways to run it, one run.

Layouts, each driven by the same httpx clients on loopback (1 / 8 / 32 concurrent; bounded by ``duration``
and ``max_requests``):

    in-process    the pipeline called directly, one request at a time (JSON body → validation → resolve →
                  encode → fuse → rank → JSON response, one torch thread): the floor
    plain         the same pipeline as one FastAPI app in one uvicorn process (what a user would build
                  instead of Serve): ``crossrec.serve.http:plain_app``
    fused         Serve, one deployment running the whole pipeline (serve_configs/fused.yaml)
    composed      Serve, Ingress → Encoder → Fusion → Ranker (serve_configs/local.yaml), stages over gRPC
    composed-ray  the composed graph with ``stage_transport: ray`` (Ray object references): what gRPC buys
    fused-direct, composed-direct   the same with Serve's direct ingress (clients reach the entry replica's own
                  port, no proxy hop; Ray's throughput-optimised mode, :func:`crossrec.serve.app.direct_ingress_env`),
                  measured in a child process because the mode is read when Ray starts

Per level: p50/p95/p99 latency, requests/s, errors, and the CPU milliseconds each process (uvicorn, or each
Serve replica, proxy and controller) spent per request. Modes besides ``recommend`` (30 catalogue items per
history): ``explain``; ``text-new`` / ``text-cached``: the same histories plus 10 items outside the catalogue,
known by their text alone (issue 18), each request's texts new to the Encoder's embedding cache or already in it. Goals (issue 22, 2 CPUs): composed p50 at 1 client
≤ 2× the plain app's; composed CPU per request ≤ 3× in-process; at 32 clients the composed graph serves more
requests/s than the plain app; zero errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossrec.benchmarks.results import format_table, write_json
from crossrec.benchmarks.serving import (
    ServeBenchConfig,
    free_port,
    request_bodies,
    resolve,
    start,
    stop,
    text_item_bodies,
    wait_ready,
)
from crossrec.utils.io import atomic_write_text

COLUMNS = ["layout", "mode", "clients", "requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request"]
SERVE_LAYOUTS = {"fused": {"layout": "fused"}, "composed": {"layout": "composed"},
                 "composed-ray": {"layout": "composed", "stage_transport": "ray"}}
DIRECT_LAYOUTS = {"fused-direct": {"layout": "fused"}, "composed-direct": {"layout": "composed"}}


@dataclass
class LoadConfig(ServeBenchConfig):
    """Options of the load benchmark (``bench/serve_load.py`` flags)."""

    out: str = "docs/results/serving.json"
    duration: float = 15.0  # seconds per load level
    max_requests: int = 20_000  # request cap per load level
    report_only: bool = False  # re-render out's .md and summary from its JSON rows


def in_process(bundle: Path, bodies: list[dict], n: int, mode: str = "recommend") -> dict:
    """The request path without any server, one request at a time: latency percentiles, requests/s and the
    process CPU milliseconds per request."""
    import torch

    from crossrec.serve.pipeline import RecommendationService
    from crossrec.serve.schemas import RecommendRequest

    torch.set_num_threads(1)
    service = RecommendationService(bundle)
    raw = [json.dumps(b) for b in bodies]

    def one(i: int) -> None:
        out = service.respond_many([RecommendRequest.model_validate_json(raw[i % len(raw)])])[0]
        json.dumps(out, separators=(",", ":"))

    one(0)
    lat = []
    c0 = time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        one(i)
        lat.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) * 1000 / n
    ms = np.asarray(lat) * 1000
    return {"layout": "in-process", "mode": mode, "clients": 1, "requests": n, "errors": 0,
            "rps": n / (ms.sum() / 1000), **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)},
            "cpu_ms_per_request": round(cpu, 2)}


def measure(url: str, bodies: list[dict], clients: int, duration: float, max_requests: int,
            pids: dict[str, list[int]]) -> tuple[dict, dict[str, float]]:
    """One load level: the row, and CPU ms per successful request of each process role in ``pids``."""
    from crossrec.serve.loadgen import run_load
    from crossrec.serve.processes import cpu_seconds

    before = {role: sum(cpu_seconds(p) for p in ps) for role, ps in pids.items()}
    r = run_load(url, bodies, clients, duration_s=duration, max_requests=max_requests)
    per = max(r.requests, 1)
    cpu = {role: round((sum(cpu_seconds(p) for p in ps) - before[role]) * 1000 / per, 2) for role, ps in pids.items()}
    row = {"clients": clients, **{k: v for k, v in r.as_dict().items() if k in COLUMNS},
           "cpu_ms_per_request": round(sum(cpu.values()), 2)}
    return row, cpu


def serve_pids() -> dict[str, list[int]]:
    from crossrec.serve.processes import serve_processes

    out: dict[str, list[int]] = {}
    for p in serve_processes():
        out.setdefault(p.role, []).append(p.pid)
    return out


def start_plain(bundle: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``uvicorn --factory crossrec.serve.http:plain_app`` in a child process (one worker, one torch thread)."""
    env = {**os.environ, "CROSSREC_BUNDLE": str(bundle), "OMP_NUM_THREADS": "1", "CROSSREC_TORCH_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "crossrec.serve.http:plain_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout_s=120, alive=lambda: proc.poll() is None)
    except Exception:
        proc.kill()
        raise
    return proc, url


def run_levels(layout: str, url: str, bodies: list[dict], levels: list[int], cfg: LoadConfig, duration: float,
               pids: dict[str, list[int]], rows: list[dict], cpu_rows: list[dict]) -> None:
    from crossrec.serve.loadgen import run_load

    run_load(url, bodies, 4, duration_s=1.0, max_requests=40)  # warm-up (JIT paths, connections)
    for clients in levels:
        row, cpu = measure(url, bodies, clients, duration, cfg.max_requests, pids)
        rows.append({"layout": layout, "mode": "recommend", **row})
        cpu_rows.append({"layout": layout, "clients": clients, **cpu})


def text_modes(bodies: list[dict], n: int, n_text: int = 10) -> dict[str, list[dict]]:
    """Request bodies of the text modes: ``text-new`` (every request's texts unseen: ``n`` bodies) and
    ``text-cached`` (the same 64 bodies cycled: the texts are in the embedding cache after the first round)."""
    return {"text-new": text_item_bodies(bodies, n_text, n), "text-cached": text_item_bodies(bodies, n_text)}


def serving_goals(summary: dict) -> list[dict]:
    """The issue's serving goals as rows, for the composed graph behind Serve's proxy (the default) and with
    direct ingress (``ratio_to_goal`` <= 1 is met: measured/goal for a ceiling, goal/measured for a floor)."""
    top = summary["top_clients"]
    rows = []
    for layout in ("composed", "composed-direct"):
        g = summary["layouts"][layout]
        lat, cpu1, cpu_top, rps = g["p50_over_plain"], g["cpu_over_in_process"], g["cpu_over_in_process_top"], \
            g["rps_over_plain_top"]
        rows += [
            {"goal": f"{layout}: p50 at 1 client <= 2x the plain FastAPI app", "measured": lat,
             "ratio_to_goal": lat / 2, "met": lat <= 2},
            {"goal": f"{layout}: CPU per request <= 3x in-process, at 1 client", "measured": cpu1,
             "ratio_to_goal": cpu1 / 3, "met": cpu1 <= 3},
            {"goal": f"{layout}: CPU per request <= 3x in-process, at {top} clients", "measured": cpu_top,
             "ratio_to_goal": cpu_top / 3, "met": cpu_top <= 3},
            {"goal": f"{layout}: req/s at {top} clients > the plain app's", "measured": rps,
             "ratio_to_goal": 1 / rps if rps > 0 else float("inf"), "met": rps > 1},
        ]
    errors = summary["errors"]
    return rows + [{"goal": "zero errors (every layout and load level)", "measured": errors,
                    "ratio_to_goal": 0.0 if errors == 0 else float("inf"), "met": errors == 0}]


def summarize(rows: list[dict], top: int) -> dict:
    """Ratios of every Serve layout to the plain app and to in-process, and what gRPC / direct ingress bought."""
    at = {(r["layout"], r["mode"], r["clients"]): r for r in rows}
    local, plain1, plain_top = (at[("in-process", "recommend", 1)], at[("plain", "recommend", 1)],
                                at[("plain", "recommend", top)])
    comp1 = at[("composed", "recommend", 1)]
    layouts = {}
    for layout in ("fused", "composed", "fused-direct", "composed-direct"):
        one, many = at[(layout, "recommend", 1)], at[(layout, "recommend", top)]
        layouts[layout] = {"p50_over_plain": one["p50_ms"] / plain1["p50_ms"],
                           "cpu_over_in_process": one["cpu_ms_per_request"] / local["cpu_ms_per_request"],
                           "cpu_over_in_process_top": many["cpu_ms_per_request"] / local["cpu_ms_per_request"],
                           "rps_over_plain_top": many["rps"] / plain_top["rps"]}
    ray_refs = at[("composed-ray", "recommend", 1)]
    summary = {
        "top_clients": top,
        "layouts": layouts,
        "grpc_cpu_over_ray_refs": comp1["cpu_ms_per_request"] / ray_refs["cpu_ms_per_request"],
        "grpc_p50_over_ray_refs": comp1["p50_ms"] / ray_refs["p50_ms"],
        "direct_p50_over_proxy": at[("composed-direct", "recommend", 1)]["p50_ms"] / comp1["p50_ms"],
        "errors": sum(r["errors"] for r in rows),
        "explain_p50_ratio_1_client": at[("composed", "explain", 1)]["p50_ms"] / comp1["p50_ms"],
        "explain_p50_ratio_in_process": at[("in-process", "explain", 1)]["p50_ms"] / local["p50_ms"],
        **{f"{mode.replace('-', '_')}_p50_ratio_{where.replace('-', '_')}": at[(where, mode, 1)]["p50_ms"] /
           at[(where, "recommend", 1)]["p50_ms"]
           for mode in ("text-new", "text-cached") for where in ("in-process", "composed") if (where, mode, 1) in at},
    }
    summary["goals"] = serving_goals(summary)
    return summary


def report(cfg: LoadConfig, bundle: Path, target: str, duration: float, rows: list[dict], cpu_rows: list[dict],
           command: str | None = None) -> None:
    """Print the tables and ratios; write ``cfg.out`` (JSON) and its ``.md`` (``command``: the run's, when
    re-rendering)."""
    top = max(r["clients"] for r in rows)
    summary = summarize(rows, top)
    table = format_table(rows, COLUMNS)
    roles = sorted({k for c in cpu_rows for k in c} - {"layout", "clients"})
    cpu_table = format_table(cpu_rows, ["layout", "clients", *roles])
    goals = format_table(summary["goals"], ["goal", "measured", "ratio_to_goal", "met"])
    print(table)
    print("\nCPU ms per request, by process:\n" + cpu_table)
    print("\n" + goals)
    print(f"\ngRPC / Ray-ref stage transport at 1 client: CPU {summary['grpc_cpu_over_ray_refs']:.2f}x, p50 "
          f"{summary['grpc_p50_over_ray_refs']:.2f}x; direct ingress / proxy p50: {summary['direct_p50_over_proxy']:.2f}x")
    command = command or "python bench/serve_load.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(cfg).items()
        if v not in (None, False, 0) and k not in ("quick", "report_only")) + (" --quick" if cfg.quick else "")
    out = write_json(cfg.out, {"command": command, "bundle": str(bundle),
                               "target": target, "quick": cfg.quick, "duration_s": duration, "results": rows,
                               "cpu_ms_per_request": cpu_rows, **summary})
    atomic_write_text(out.with_suffix(".md"), f"# Serving load ({bundle}, target {target})\n\n{table}\n\n"
                      f"CPU ms per request, by process:\n\n{cpu_table}\n\nGoals:\n\n{goals}\n")


def serve_layouts(layouts: dict[str, dict], bundle: Path, port: int, bodies: list[dict], explain_bodies: list[dict],
                  levels: list[int], cfg: LoadConfig, duration: float, rows: list[dict], cpu_rows: list[dict],
                  direct_ingress: bool = False) -> None:
    """Deploy each layout in turn on this process's Ray and measure it (appends to ``rows`` / ``cpu_rows``)."""
    for layout, overrides in layouts.items():
        url = start(bundle, port, direct_ingress=direct_ingress, **overrides)
        try:
            pids = serve_pids()
            run_levels(layout, url, bodies, [1, levels[-1]] if layout == "composed-ray" else levels, cfg, duration,
                       pids, rows, cpu_rows)
            if layout == "composed":
                row, _ = measure(url, explain_bodies, 1, duration, cfg.max_requests, pids)
                rows.append({"layout": layout, "mode": "explain", **row})
                for mode, text_bodies in text_modes(bodies, cfg.max_requests).items():
                    row, _ = measure(url, text_bodies, 1, duration, cfg.max_requests, pids)
                    rows.append({"layout": layout, "mode": mode, **row})
        finally:
            stop()


def direct_layouts(cfg: LoadConfig, bundle: Path, target: str, levels: list[int], duration: float
                   ) -> tuple[list[dict], list[dict]]:
    """The DIRECT_LAYOUTS rows, each measured by ``python -m crossrec.benchmarks.serve_load`` in a child process
    with its own Ray, started in direct-ingress mode (the mode is read when Ray's processes start)."""
    import tempfile

    rows: list[dict] = []
    cpu_rows: list[dict] = []
    env = {**os.environ, "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0"}  # no load balancer to drain for
    with tempfile.TemporaryDirectory() as tmp:
        for layout in DIRECT_LAYOUTS:
            spec, out = Path(tmp) / f"{layout}.json", Path(tmp) / f"{layout}.rows.json"
            spec.write_text(json.dumps({"cfg": vars(cfg), "bundle": str(bundle), "target": target, "levels": levels,
                                        "duration": duration, "layout": layout, "out": str(out)}))
            subprocess.run([sys.executable, "-m", "crossrec.benchmarks.serve_load", str(spec)], check=True, env=env)
            data = json.loads(out.read_text())
            rows += data["rows"]
            cpu_rows += data["cpu_rows"]
    return rows, cpu_rows


def _direct_child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    cfg, bundle = LoadConfig(**spec["cfg"]), Path(spec["bundle"])
    bodies = request_bodies(bundle, spec["target"])
    rows: list[dict] = []
    cpu_rows: list[dict] = []
    layouts = {spec["layout"]: DIRECT_LAYOUTS[spec["layout"]]}
    serve_layouts(layouts, bundle, free_port(), bodies, [], spec["levels"], cfg, spec["duration"], rows, cpu_rows,
                  direct_ingress=True)
    Path(spec["out"]).write_text(json.dumps({"rows": rows, "cpu_rows": cpu_rows}))


def run_serve_load(cfg: LoadConfig) -> int:
    """Run the benchmark, print its tables and write ``cfg.out`` (JSON) and its ``.md``; the exit status."""
    if cfg.report_only:  # re-render the page from the JSON of an earlier run (no measurement)
        data = json.loads(Path(cfg.out).read_text())
        report(cfg, Path(data["bundle"]), data["target"], data["duration_s"], data["results"], data["cpu_ms_per_request"],
               data["command"])
        return 0
    bundle, target, port = resolve(cfg)
    bodies = request_bodies(bundle, target)
    levels = [1, 8] if cfg.quick else [1, 8, 32]
    duration = 1.5 if cfg.quick else cfg.duration
    explain_bodies = [{**b, "explain": True} for b in bodies]  # top-10 with 3 reasons each
    n_local = 50 if cfg.quick else 500
    rows = [in_process(bundle, bodies, n_local), in_process(bundle, explain_bodies, n_local, mode="explain")]
    rows += [in_process(bundle, text_bodies, n_local, mode=mode)
             for mode, text_bodies in text_modes(bodies, n_local).items()]
    cpu_rows: list[dict] = []
    proc, url = start_plain(bundle, free_port())
    try:
        run_levels("plain", url, bodies, levels, cfg, duration, {"uvicorn": [proc.pid]}, rows, cpu_rows)
    finally:
        proc.kill()
        proc.wait()
    serve_layouts(SERVE_LAYOUTS, bundle, port, bodies, explain_bodies, levels, cfg, duration, rows, cpu_rows)
    rows_direct, cpu_direct = direct_layouts(cfg, bundle, target, levels, duration)
    rows += rows_direct
    cpu_rows += cpu_direct
    report(cfg, bundle, target, duration, rows, cpu_rows)
    return 0


if __name__ == "__main__":  # the direct-ingress child of direct_layouts
    _direct_child(sys.argv[1])
