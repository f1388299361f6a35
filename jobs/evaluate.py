"""Evaluate a bundle on the benchmark split (metrics JSON + per-user top-k JSONL).

    python jobs/evaluate.py --config C
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/evaluate.py --config C
"""

import sys

from crossrec.jobs.configs import EvaluateJobConfig
from crossrec.jobs.entrypoint import job_main
from crossrec.jobs.runners import run_evaluate

if __name__ == "__main__":
    sys.exit(job_main(__doc__.splitlines()[0], EvaluateJobConfig, run_evaluate))
