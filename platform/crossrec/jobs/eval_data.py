"""Evaluation scoring as a Ray Data pipeline: the examples of a split's role → ``map_batches`` over a pool of
:class:`BundleRankActor` actors (each loads the bundle and the split once; one GPU per actor when asked) → the
rank of each true item → the metrics of BENCHMARK.md, summarised on the driver.

The actors run :func:`crossrec.eval.runner.score_chunk`, the in-process loop's own step, so the metrics are the
in-process evaluation's (``tests/eval/test_explanations.py`` checks it).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crossrec.eval.runner import EvalReport


class BundleRankActor:
    """(row,) example positions of the role → (row, rank) of each example's true item."""

    def __init__(self, bundle_path: str, dataset: str, target: str, role: str, batch_size: int) -> None:
        import torch

        from crossrec.eval.bundle_eval import bundle_scorer
        from crossrec.eval.protocol import target_columns

        torch.set_num_threads(1)
        tm, self.split, self.scorer = bundle_scorer(bundle_path, dataset, target, batch_size)
        self.max_len = tm.model.history_window
        self.rows = self.split.role(role)
        self.true_cols = target_columns(self.split, self.rows["item_idx"].to_numpy())

    def __call__(self, batch: pa.Table) -> pa.Table:
        from crossrec.eval.runner import score_chunk

        idx = batch.column("row").to_numpy()
        _, _, _, ranks = score_chunk(self.scorer, self.split, self.rows.iloc[idx], self.true_cols[idx], self.max_len)
        return pa.table({"row": pa.array(idx, pa.int64()), "rank": pa.array(np.asarray(ranks), pa.int64())})


def evaluate_with_ray_data(bundle_path: str, dataset: str, target: str, role: str = "test", batch_size: int = 512,
                           actors: int = 1, gpus_per_actor: float = 0.0) -> EvalReport:
    """The metrics of :func:`crossrec.eval.bundle_eval.evaluate_bundle`, scored by ``actors`` Ray Data actors."""
    import time

    import ray

    from crossrec.data.cold_start import unseen_items
    from crossrec.data.dataset import load_dataset
    from crossrec.data.split import split_target
    from crossrec.eval.metrics import summarize

    t0 = time.perf_counter()
    split = split_target(load_dataset(dataset), target)
    rows = split.role(role)
    n = len(rows)
    blocks = [pa.table({"row": pa.array(np.arange(s, min(s + batch_size, n)), pa.int64())})
              for s in range(0, n, batch_size)] or [pa.table({"row": pa.array([], pa.int64())})]
    out = ray.data.from_arrow(blocks).map_batches(
        BundleRankActor, fn_constructor_kwargs={"bundle_path": bundle_path, "dataset": dataset, "target": target,
                                                "role": role, "batch_size": batch_size},
        batch_size=batch_size, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1 if gpus_per_actor == 0 else 0, num_gpus=gpus_per_actor).to_arrow_refs()
    ranks = np.empty(n, dtype=np.int64)
    for table in ray.get(out):
        ranks[table.column("row").to_numpy()] = table.column("rank").to_numpy()
    new_items = unseen_items(split)[rows["item_idx"].to_numpy(dtype=np.int64)]
    return EvalReport("crossrec", target, role, summarize(ranks, rows["slice"].to_numpy(), new_items=new_items),
                      time.perf_counter() - t0)
