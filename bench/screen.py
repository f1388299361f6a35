"""Screen model variants on a fixed sample of valid users in minutes (frozen text, short budget).

    python bench/screen.py --config bench/configs/screen_amazon.yaml
    python bench/screen.py --config ... --methods base dot_score       # only these candidates

Appends one JSON line per method to ``<work_dir>/<name>.jsonl`` (valid NDCG@10 curve, fit and CPU seconds)
and prints a table. Winners are then confirmed at the full budget by ``bench/quality.py``.
"""

from __future__ import annotations

import argparse
import sys

from crossrec.benchmarks.screen import ScreenConfig, run_screen
from crossrec.errors import CrossrecError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="screen YAML (see bench/configs/screen_*.yaml)")
    ap.add_argument("--methods", nargs="+", help="run only these methods of the config")
    args = ap.parse_args(argv)
    try:
        rows = run_screen(ScreenConfig.from_yaml(args.config), only=args.methods)
    except CrossrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'method':<28} {'valid ndcg@10':>13} {'cold':>7} {'warm':>7} {'fit s':>7} {'cpu s':>7}")
    for r in rows:
        v = r["valid"]
        print(f"{r['method']:<28} {v['overall']['ndcg@10']:>13.4f} {v['cold']['ndcg@10']:>7.4f} "
              f"{v['warm']['ndcg@10']:>7.4f} {r['fit_seconds']:>7.0f} {r['cpu_seconds']:>7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
