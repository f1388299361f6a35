"""Write top-k recommendations for every user of a dataset to Parquet.

    python jobs/batch_recommend.py --config C
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/batch_recommend.py --config C
"""

import sys

from crossrec.jobs.configs import BatchRecommendJobConfig
from crossrec.jobs.entrypoint import job_main
from crossrec.jobs.runners import run_batch_recommend

if __name__ == "__main__":
    sys.exit(job_main(__doc__.splitlines()[0], BatchRecommendJobConfig, run_batch_recommend))
