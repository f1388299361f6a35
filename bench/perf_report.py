"""Assemble docs/results/performance.md from the performance benchmarks' JSON files (one command).

    python bench/perf_report.py [--results docs/results] [--out docs/results/performance.md]

Reads ``train_throughput.json``, ``backbone_memory.json``, ``item_encoding.json``, ``ranker_scaling.json`` and,
when present, ``serving.json`` (rendered generically); a missing file gives a one-line note, not an error.
Every section states the command that produced it, the machine and its load average at the time.
The page is rendered by :func:`crossrec.benchmarks.perf_page.render`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossrec.benchmarks.perf_page import render
from crossrec.utils.io import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="docs/results", help="directory of the benchmark JSON files")
    ap.add_argument("--out", default="docs/results/performance.md")
    args = ap.parse_args(argv)
    text = render(Path(args.results))
    atomic_write_text(Path(args.out), text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
