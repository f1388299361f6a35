"""All-user batch recommendation as a Ray Data pipeline: user histories → ``map_batches`` over a pool of
:class:`~crossrec.jobs.batch_recommend.BatchRecommender` actors (each loads the bundle once; one GPU per actor
when asked) → Parquet files streamed to a directory or URI (``s3://…``), block by block.

The actors run the same class as the in-process job, so the rows are the same (``tests/jobs``); only their
order across files differs (sort by user_id, rank).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class DataRunStats:
    users: int
    rows: int
    seconds: float
    actors: int

    @property
    def users_per_s(self) -> float:
        return self.users / max(self.seconds, 1e-9)


def recommend_with_ray_data(bundle_path: str, dataset: str, target: str, output: str, k: int = 10,
                            batch_size: int = 512, exclude_seen: bool = True, explain_n: int | None = None,
                            actors: int = 1, cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0,
                            threads_per_actor: int = 1) -> DataRunStats:
    """Write (user_id, rank, item_id, score, fallback[, because]) Parquet files under ``output`` (a directory or
    URI) with ``actors`` scoring actors; returns counts and wall seconds (bundle loading included)."""
    import ray

    from crossrec.jobs.batch_recommend import BatchRecommender, user_histories
    from crossrec.model.bundle import ModelBundle

    t0 = time.perf_counter()
    users = user_histories(dataset, ModelBundle.load(bundle_path, targets=[]))
    kwargs: dict[str, Any] = {"bundle_path": bundle_path, "target": target, "k": k, "exclude_seen": exclude_seen,
                              "explain_n": explain_n, "threads": threads_per_actor}
    # One block per batch, made here (a repartition is a CPU task that could not start while the actors hold
    # every CPU); the actor pool pulls blocks as it frees up.
    blocks = [users.slice(start, batch_size) for start in range(0, users.num_rows, batch_size)] or [users]
    ds = ray.data.from_arrow(blocks).map_batches(
        BatchRecommender, fn_constructor_kwargs=kwargs, batch_size=batch_size, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)
    # The writers take no CPU slot: with every CPU held by a scoring actor, a 1-CPU write task would never start.
    ds.write_parquet(output, ray_remote_args={"num_cpus": 0})
    mark_complete(output)
    seconds = time.perf_counter() - t0
    rows = _count_rows(output)
    return DataRunStats(users.num_rows, rows, seconds, actors)


def mark_complete(output: str) -> None:
    """Write ``_SUCCESS`` under ``output`` once every Parquet part is written: a reader (or a rerun) tells a finished
    output from one a failed job left half-written. Parquet readers skip ``_``-prefixed files."""
    from crossrec.utils.storage import join, write_bytes

    write_bytes(join(output, "_SUCCESS"), b"")


def _count_rows(output: str) -> int:
    import pyarrow.dataset as pads

    from crossrec.utils.storage import filesystem, is_uri

    if is_uri(output):
        fs, path = filesystem(output)
        return pads.dataset(path, filesystem=fs, format="parquet").count_rows()
    return pads.dataset(output, format="parquet").count_rows()
