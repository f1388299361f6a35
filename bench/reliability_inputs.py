"""Bad inputs through the ``crossrec`` CLI: every case must exit non-zero with ONE error line naming the file
and the field, print no traceback, and leave no output that looks complete.

    python bench/reliability_inputs.py [--quick] [--out docs/results/reliability_inputs.json]

Each case corrupts a copy of a small valid fixture (synthetic dataset, random-weight bundle, train/sweep
YAML, fake backbone directories that hold only ``config.json``), runs ``crossrec.cli.main(argv)`` in this
process and records the exit code, the error line and any leftovers. The table of ``docs/results/
reliability.md`` ("Inputs tried") comes from the JSON this writes; ``tests/reliability/test_bad_input_matrix.py``
runs every case and asserts the same checks. ``--quick`` runs the first case of each command area only.
The cases and their checks are :mod:`crossrec.benchmarks.bad_inputs`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crossrec.benchmarks.bad_inputs import run_bad_inputs

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the first case of each command area only")
    ap.add_argument("--out", default=str(REPO / "docs" / "results" / "reliability_inputs.json"))
    ap.add_argument("--work", default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args(argv)
    return run_bad_inputs(args.out, quick=args.quick, work=args.work)


if __name__ == "__main__":
    sys.exit(main())
