"""Serving faults: kill a Ranker replica, then an Encoder replica, under steady load; count what fails.

    python bench/serve_faults.py [--bundle runs/ml1m-local/bundle] [--clients 8] [--quick] [--out FILE.json]

Steady load (httpx clients on loopback) runs the whole time; clients retry a request on HTTP 503 or a
connection error (bounded: --retries, back-off 50 ms doubling to 1 s). Each fault SIGKILLs the replica's
process (a crash, not a graceful stop). Serve's controller notices (health checks every 2 s) and starts a
new replica, which loads and checksum-verifies the bundle before it takes requests. Reported per fault:
recovery time (kill → a new replica of that deployment and /ready 200) and overall requests sent,
succeeded, retried and failed (failed = still not 200 after the retries; target 0).
The benchmark itself is :mod:`crossrec.benchmarks.serve_faults`.
"""

from __future__ import annotations

import argparse

from crossrec.benchmarks.serve_faults import FaultsConfig, run_serve_faults
from crossrec.benchmarks.serving import add_common_args


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, FaultsConfig)
    ap.add_argument("--clients", type=int, default=FaultsConfig.clients, help="Concurrent clients of the steady load.")
    ap.add_argument("--retries", type=int, default=FaultsConfig.retries,
                    help="Retries per request on 503 / connection errors.")
    ap.add_argument("--settle", type=float, default=FaultsConfig.settle,
                    help="Seconds of load before, between and after faults.")
    return run_serve_faults(FaultsConfig(**vars(ap.parse_args(argv))))


if __name__ == "__main__":
    raise SystemExit(main())
