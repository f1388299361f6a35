"""Explanation benchmark: deletion-test faithfulness, real examples and cost (see crossrec.benchmarks.explanations).

    python bench/explanations.py --config bench/configs/explanations.yaml
    python bench/explanations.py --config bench/configs/explanations.yaml --runs ml1m_family   # one run
    python bench/explanations.py --config bench/configs/explanations.yaml --report-only
"""

from __future__ import annotations

import argparse
import shlex
import sys

from crossrec.benchmarks.explanations import ExplanationsConfig, run_explanations, write_page
from crossrec.errors import CrossrecError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="explanations YAML (bench/configs/explanations.yaml)")
    ap.add_argument("--runs", nargs="+", help="run only these runs (others are reported from the cache)")
    ap.add_argument("--report-only", action="store_true", help="render the page from cached results only")
    args = ap.parse_args(argv)
    command = "python bench/explanations.py --config " + shlex.quote(args.config)
    try:
        cfg = ExplanationsConfig.from_yaml(args.config)
        results = run_explanations(cfg, [] if args.report_only else args.runs)
        if not results:
            raise CrossrecError(f"{args.config}: no cached result: run without --report-only first")
        paths = write_page(results, cfg, command)
    except CrossrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
