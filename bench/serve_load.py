"""Serving benchmark: the composed Serve graph, the fused layout, a plain FastAPI app and the in-process path,
side by side in one run.

    python bench/serve_load.py [--bundle runs/ml1m-local/bundle] [--target family] [--quick] [--out FILE.json]

Per layout and client count (1/8/32): p50/p95/p99 latency, requests/s, errors, and the CPU milliseconds every
process spent per request; the composed graph also over Ray object references (what the gRPC stage transport
buys) and with ``explain: true``. Goals (issue 22, 2 CPUs): composed p50 at 1 client <= 2x the plain app; CPU
per request <= 3x in-process; at 32 clients more req/s than the plain app; zero errors.
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
    ap.add_argument("--report-only", action="store_true", help="Re-render --out's page from its JSON rows.")
    return run_serve_load(LoadConfig(**vars(ap.parse_args(argv))))


if __name__ == "__main__":
    raise SystemExit(main())
