"""Serving benchmark: the local Serve graph under 1/8/32/64 concurrent clients vs the in-process path.

    python bench/serve_load.py --bundle runs/ml1m-local/bundle [--target family] [--quick] [--out FILE.json]

Prints a table and writes JSON: p50/p95/p99 latency, requests/s and errors per concurrency, with
@serve.batch on and off, and the in-process RecommendationService (no Serve) for Serve's overhead ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd


def request_bodies(bundle: Path, target: str, n: int = 64, seed: int = 0) -> list[dict]:
    items = pd.read_parquet(bundle / "items.parquet")
    rng = np.random.default_rng(seed)
    ids = items["item_id"].tolist()
    return [{"history": [{"item_id": ids[i]} for i in rng.choice(len(ids), size=30, replace=False)],
             "target_domain": target, "k": 10} for _ in range(n)]


def in_process(bundle: Path, bodies: list[dict], n: int) -> dict:
    from crossrec.serve.inference import RecommendationService
    from crossrec.serve.schemas import RecommendRequest

    service = RecommendationService(bundle)
    reqs = [RecommendRequest(**b) for b in bodies]
    service.recommend(reqs[0])
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        service.recommend(reqs[i % len(reqs)])
        lat.append(time.perf_counter() - t0)
    lat_ms = np.asarray(lat) * 1000
    return {"p50_ms": float(np.percentile(lat_ms, 50)), "p99_ms": float(np.percentile(lat_ms, 99)),
            "rps": n / (lat_ms.sum() / 1000)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--target", default=None)
    ap.add_argument("--quick", action="store_true", help="2 s per level, 1 and 8 clients, batching on only")
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--out", default="docs/results/serving.json")
    args = ap.parse_args(argv)
    from ray import serve

    from crossrec.serve.app import run_local
    from crossrec.serve.loadgen import run_load

    bundle = Path(args.bundle)
    target = args.target or json.loads((bundle / "bundle.json").read_text())["targets"][0]
    bodies = request_bodies(bundle, target)
    levels = [1, 8] if args.quick else [1, 8, 32, 64]
    duration = 2.0 if args.quick else args.duration
    local = in_process(bundle, bodies, 50 if args.quick else 300)
    results = {"machine": {"platform": platform.platform(), "cpus": __import__("os").cpu_count()},
               "bundle": str(bundle), "target": target, "in_process": local, "serve": {}}
    for batching in ([True] if args.quick else [True, False]):
        url = run_local(bundle, port=args.port, blocking=False, batching=batching)
        run_load(url, bodies, 1, duration_s=1.0, max_requests=10)  # warm-up
        rows = [run_load(url, bodies, c, duration_s=duration).as_dict() for c in levels]
        results["serve"]["batch_on" if batching else "batch_off"] = rows
        serve.shutdown()
    print(f"in-process: p50 {local['p50_ms']:.1f} ms, p99 {local['p99_ms']:.1f} ms, {local['rps']:.0f} req/s")
    print(f"{'batching':>9} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for mode, rows in results["serve"].items():
        for r in rows:
            print(f"{mode:>9} {r['concurrency']:>7} {r['rps']:>7.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
                  f"{r['p99_ms']:>7.1f} {r['errors']:>6}")
    on = results["serve"]["batch_on"]
    results["overhead_ratio_1_client"] = on[0]["p50_ms"] / local["p50_ms"]
    results["scaling_rps_ratio"] = on[-1]["rps"] / on[0]["rps"]
    print(f"Serve overhead at 1 client (p50 / in-process p50): {results['overhead_ratio_1_client']:.1f}x; "
          f"req/s at {levels[-1]} vs 1 client: {results['scaling_rps_ratio']:.1f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
