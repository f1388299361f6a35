"""Add an approximate top-k (ANN) index per target to a bundle (needs faiss: pip install 'crossrec[ann]').

    python jobs/build_ann.py BUNDLE [--target T ...] [--min-items N] [--kind ivf|hnsw] [--nprobe 64] ...
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/build_ann.py runs/demo/bundle --min-items 100000

Every field of crossrec.model.ann.AnnConfig is a flag (unset: its default). The bundle is rewritten
atomically with targets/<T>/ann.faiss + ann.json and a new manifest; one summary line per target.
"""

import argparse
import sys

from crossrec.errors import CrossrecError
from crossrec.model.ann import AnnConfig
from crossrec.model.bundle import add_ann_indexes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", help="model bundle directory (rewritten in place, atomically)")
    ap.add_argument("--target", action="append", help="target domain (repeatable; default: every target)")
    ap.add_argument("--min-items", type=int, default=0, help="skip targets with fewer catalogue items")
    for name, spec in AnnConfig.model_fields.items():
        ap.add_argument(f"--{name.replace('_', '-')}", dest=name, help=f"{spec.description} (default {spec.default})")
    args = ap.parse_args(argv)
    fields = {name: getattr(args, name) for name in AnnConfig.model_fields if getattr(args, name) is not None}
    try:
        cfg = AnnConfig.from_dict(fields, source="jobs/build_ann.py flags")
        built = add_ann_indexes(args.bundle, cfg, targets=args.target, min_items=args.min_items)
    except CrossrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.bundle}: ANN index built for {len(built)} target(s): {sorted(built)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
