"""New-item benchmark (issue 18): crossrec and the baselines on an item-cold-start split, one page.

    python bench/new_items.py --config bench/configs/new_items_ml1m.yaml bench/configs/new_items_amazon.yaml
    python bench/new_items.py --config bench/configs/new_items_ml1m.yaml --targets family --methods crossrec
    python bench/new_items.py --config bench/configs/new_items_ml1m.yaml bench/configs/new_items_amazon.yaml --report-only

Each config is a quality benchmark config with ``item_cold_start`` (a share of each target's items hidden from
training); results are cached per (target, method, seed) like the quality benchmark's, so a rerun resumes and
parallel processes (one per config, target or method) share the cache. Writes ``<out-dir>/<name>.{md,json}``:
per target and method, test NDCG@10 overall / on new items / on old items, the share of new items that reach a
top-10 list, users per slice and fit minutes. The benchmark itself is
:func:`crossrec.benchmarks.new_items.run_new_items`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from crossrec.benchmarks.new_items import run_new_items
from crossrec.errors import CrossrecError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", nargs="+", required=True, help="new-item benchmark YAMLs (quality configs with "
                    "item_cold_start), one per dataset")
    ap.add_argument("--targets", nargs="+", help="run only these targets (the others are reported from the cache)")
    ap.add_argument("--methods", nargs="+", help="run only these methods (the others are reported from the cache)")
    ap.add_argument("--report-only", action="store_true", help="render the page from cached results only")
    ap.add_argument("--name", default="new_items", help="page name: <out-dir>/<name>.{md,json}")
    ap.add_argument("--out-dir", default="docs/results", help="where the page and its JSON go")
    args = ap.parse_args(argv)
    command = "python bench/new_items.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        return run_new_items(args.config, targets=args.targets, methods=args.methods, report_only=args.report_only,
                             name=args.name, out_dir=args.out_dir, command=command)
    except CrossrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
