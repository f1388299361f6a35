"""Serving soak: steady moderate load for a bounded time, RSS of every Serve process sampled throughout.

    python bench/serve_soak.py [--bundle runs/ml1m-local/bundle] [--minutes 10] [--clients 4] [--quick]

Reports per process (replicas, proxy, controller) the RSS after warm-up, at the end, its growth and the
least-squares slope (MiB per minute) over the second half of the run, plus requests and errors. Growth
"beyond noise" is flagged when a process grows by more than --tolerance-mb (default 20 MiB) over the run and
still grows by more than a quarter of that over the second half (slope x duration): a leak keeps growing, while
warm-up (caches, allocator arenas, lazily built routes) levels off. Writes docs/results/serve_soak.json.
The soak and its leak criterion are :mod:`crossrec.benchmarks.serve_soak`.
"""

from __future__ import annotations

import argparse

from crossrec.benchmarks.serve_soak import SoakConfig, run_serve_soak
from crossrec.benchmarks.serving import add_common_args


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, SoakConfig)
    ap.add_argument("--minutes", type=float, default=SoakConfig.minutes, help="Soak duration after warm-up.")
    ap.add_argument("--clients", type=int, default=SoakConfig.clients, help="Concurrent clients (moderate load).")
    ap.add_argument("--interval", type=float, default=SoakConfig.interval, help="Seconds between RSS samples.")
    ap.add_argument("--tolerance-mb", type=float, default=SoakConfig.tolerance_mb, help="Growth below this is noise.")
    return run_serve_soak(SoakConfig(**vars(ap.parse_args(argv))))


if __name__ == "__main__":
    raise SystemExit(main())
