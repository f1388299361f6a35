"""Training faults under local Ray, measured: (1) a Ray Train worker SIGKILLed mid-epoch, (2) a Ray Tune sweep
whose driver process (and with it its embedded Ray) is SIGKILLed after some trials finished, then resumed.

    python bench/train_faults.py [--quick] [--only worker|sweep] [--out docs/results/reliability_faults.json]

(1) trains a small synthetic config with ``checkpoint.max_failures: 1`` while the worker kills itself once
(``crossrec.train.faults``), then trains the same config in-process without a fault and compares per-epoch
losses, valid NDCG@10 and test metrics. (2) runs ``crossrec tune`` as a child process (own session), kills the
whole process group once the experiment state lists finished trials, re-runs the same command and checks
that every trial finished before the kill kept its results (not re-run) and the sweep completed.
``tests/reliability/test_train_faults.py`` runs both with the ``--quick`` sizes (its re-run of the killed
sweep happens in the test's own Ray, which saves a process and a Ray start). The measurements are
:mod:`crossrec.benchmarks.train_faults`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crossrec.benchmarks.train_faults import run_train_faults

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 epochs / 4 one-epoch trials (what CI runs)")
    ap.add_argument("--only", choices=["worker", "sweep"], default=None)
    ap.add_argument("--out", default=str(REPO / "docs" / "results" / "reliability_faults.json"))
    args = ap.parse_args(argv)
    return run_train_faults(args.out, quick=args.quick, only=args.only)


if __name__ == "__main__":
    sys.exit(main())
