"""Serving latency of two checkouts, interleaved (is the common request slower after a change?).

    git worktree add /tmp/base <commit>            # the reference checkout
    python bench/serve_ab.py --base /tmp/base [--head .] [--bundle DIR --target T] [--rounds 6] [--duration 20]

Each round deploys the composed Serve graph from one checkout (its own Ray, in a child process) and measures
catalogue-item requests at one client, the same requests in-process, and requests with 10 text-only history
items where the checkout reads them. Rounds alternate A B B A ...; the page gives each side's median p50 and
head/base. Writes ``--out`` (JSON) and its ``.md``. The benchmark is :mod:`crossrec.benchmarks.serve_ab`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from crossrec.benchmarks.serve_ab import AbConfig, run_serve_ab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="reference checkout (a directory holding platform/crossrec)")
    ap.add_argument("--head", default=AbConfig.head, help="checkout with the change (default: this one)")
    ap.add_argument("--bundle", default=AbConfig.bundle, help="model bundle directory both sides serve")
    ap.add_argument("--target", default=AbConfig.target, help="target domain")
    ap.add_argument("--rounds", type=int, default=AbConfig.rounds, help="rounds in all (both sides)")
    ap.add_argument("--duration", type=float, default=AbConfig.duration, help="seconds per round and mode")
    ap.add_argument("--max-requests", type=int, default=AbConfig.max_requests, help="request cap per round and mode")
    ap.add_argument("--in-process-requests", type=int, default=AbConfig.in_process_requests)
    ap.add_argument("--out", default=AbConfig.out, help="result JSON (the .md beside it)")
    args = ap.parse_args(argv)
    command = "python bench/serve_ab.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        return run_serve_ab(AbConfig(**vars(args)), command)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
