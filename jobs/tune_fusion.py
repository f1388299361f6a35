"""Sweep fusion/head hyper-parameters with Ray Tune (resumes an interrupted sweep of the same name).

    python jobs/tune_fusion.py --config jobs/configs/sweep_local.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/tune_fusion.py --config jobs/configs/sweep_cluster.yaml
"""

import sys

from crossrec.jobs.entrypoint import job_main
from crossrec.tune.config import SweepConfig
from crossrec.tune.run import run_sweep

if __name__ == "__main__":
    sys.exit(job_main(__doc__.splitlines()[0], SweepConfig, run_sweep))
