"""Serving benchmark: the local Serve graph under 1/8/32/64 concurrent clients vs the in-process path.

    python bench/serve_load.py [--bundle runs/ml1m-local/bundle] [--target family] [--quick] [--out FILE.json]

For @serve.batch on and off: p50/p95/p99 latency, requests/s and errors per client count (aiohttp clients on
loopback, bounded by --duration and --max-requests), and the CPU milliseconds each Serve process spent per
request. The in-process row is the same request path without Serve (JSON body → validation → resolve →
encode → fuse → rank → JSON response, one torch thread like each replica). Goals (2 CPUs): Serve p50 at 1
client ≤ 3× in-process p50; req/s at 32 clients ≥ 5× req/s at 1 client; zero errors.
The benchmark itself is :mod:`crossrec.benchmarks.serve_load`.
"""

from __future__ import annotations

import argparse

from crossrec.benchmarks.serve_load import LoadConfig, run_serve_load
from crossrec.benchmarks.serving import add_common_args


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, LoadConfig)
    ap.add_argument("--duration", type=float, default=LoadConfig.duration, help="Seconds per load level.")
    ap.add_argument("--max-requests", type=int, default=LoadConfig.max_requests, help="Request cap per load level.")
    return run_serve_load(LoadConfig(**vars(ap.parse_args(argv))))


if __name__ == "__main__":
    raise SystemExit(main())
