"""Train one LoRA adapter + heads per target domain (Ray Train); writes a bundle and metrics.json.

    python jobs/train_adapters.py --config jobs/configs/local_cpu.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/train_adapters.py --config jobs/configs/gpu_cluster.yaml
"""

import sys

from crossrec.jobs.entrypoint import job_main
from crossrec.train.config import TrainConfig
from crossrec.train.run import run_training

if __name__ == "__main__":
    sys.exit(job_main(__doc__.splitlines()[0], TrainConfig, run_training))
