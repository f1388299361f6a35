"""Train one LoRA adapter + heads per target domain (Ray Train). Thin entrypoint for `ray job submit`:

    python jobs/train_adapters.py --config jobs/configs/local_cpu.yaml
    ray job submit --working-dir . -- python jobs/train_adapters.py --config jobs/configs/gpu_cluster.yaml
"""

from __future__ import annotations

import argparse
import sys

from crossrec.errors import CrossrecError
from crossrec.train.config import TrainConfig
from crossrec.train.run import run_training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training config YAML")
    parser.add_argument("--address", default=None, help="Ray address (default: the job's cluster or local)")
    args = parser.parse_args(argv)
    try:
        result = run_training(TrainConfig.from_yaml(args.config), address=args.address)
    except CrossrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"bundle: {result.bundle_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
