"""Embed (or refresh) item text embeddings with each domain's adapter.

    python jobs/embed_items.py --config C
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- python jobs/embed_items.py --config C
"""

import sys

from crossrec.jobs.configs import EmbedItemsJobConfig
from crossrec.jobs.entrypoint import job_main
from crossrec.jobs.runners import run_embed_items

if __name__ == "__main__":
    sys.exit(job_main(__doc__.splitlines()[0], EmbedItemsJobConfig, run_embed_items))
