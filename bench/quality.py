"""Quality benchmark: crossrec variants against baselines on the BENCHMARK.md protocol, side by side.

    python bench/quality.py --config bench/configs/quality_ml1m.yaml          # ML-1M family + thriller
    python bench/quality.py --config ... --targets family --methods mostpop crossrec_full
    python bench/quality.py --config ... --report-only                       # re-render from cached results
    python bench/quality.py --suite bench/configs/quality_suite.yaml         # one page over several datasets

Every (target, method, seed) result is cached under the config's ``work_dir``; a rerun resumes. Writes
``<out_dir>/<name>.{md,json,png}``: the table of test NDCG@10 overall / cold / warm, ratios of crossrec to
the best baseline, wall times, the plot and this command line. The benchmark itself is
:func:`crossrec.benchmarks.quality_run.run_benchmark`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from crossrec.benchmarks.quality_run import run_benchmark, run_suite_report
from crossrec.errors import CrossrecError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="quality benchmark YAML (see bench/configs/)")
    which.add_argument("--suite", help="suite YAML: one page over several configs' cached results")
    ap.add_argument("--dataset", help="override: canonical dataset dir or raw RecBole dir")
    ap.add_argument("--targets", nargs="+", help="override: target domains")
    ap.add_argument("--methods", nargs="+", help="run only these methods (others are reported from the cache)")
    ap.add_argument("--seeds", nargs="+", type=int, help="override: seeds")
    ap.add_argument("--work-dir", help="override: result cache directory")
    ap.add_argument("--out-dir", help="override: where the page, JSON and plot go")
    ap.add_argument("--report-only", action="store_true", help="render the page from cached results only")
    args = ap.parse_args(argv)
    command = "python bench/quality.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        if args.suite:
            return run_suite_report(args.suite, command=command)
        return run_benchmark(args.config, methods=args.methods, report_only=args.report_only, command=command,
                             dataset=args.dataset, targets=args.targets, seeds=args.seeds, work_dir=args.work_dir,
                             out_dir=args.out_dir)
    except CrossrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
