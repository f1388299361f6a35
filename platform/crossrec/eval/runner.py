"""The evaluation runner: one loop that scores every method (crossrec and baselines) per BENCHMARK.md.

For each batch of held-out examples it asks the recommender for scores over T's whole catalogue, removes
the items of the user's visible T history (never the held-out item itself), ranks the held-out item
(ties broken by catalogue order) and aggregates Recall/NDCG/MRR overall and per slice: cold/warm users, and
new/old items (examples whose item has no training interaction, see :mod:`crossrec.data.cold_start`). It also
records which catalogue items reach the users' top-10 lists (the exposure of new items beside old ones).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossrec.data.cold_start import unseen_items
from crossrec.data.split import TargetSplit
from crossrec.eval.metrics import EXPOSURE_K, METRICS, TopKExposure, rank_of_true, summarize, top_columns
from crossrec.eval.protocol import Recommender, make_history_batch, target_columns, visible_target_mask
from crossrec.utils.io import atomic_write_text
from crossrec.utils.progress import Progress


@dataclass
class EvalReport:
    """Metrics of one method on one split role: ``metrics[slice][metric]`` (slices overall/cold/warm, and
    new_items/old_items when the runner had the split); ``exposure``: :meth:`TopKExposure.summary` of the
    role's top-10 lists (empty when not measured)."""

    method: str
    target: str
    role: str
    metrics: dict[str, dict[str, Any]]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    exposure: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "target": self.target, "role": self.role, "metrics": self.metrics,
                "seconds": self.seconds, **({"exposure": self.exposure} if self.exposure else {}), **self.extra}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    def to_table(self):
        """A rich Table: one row per slice."""
        from rich.table import Table

        table = Table(title=f"{self.method} · target {self.target} · {self.role} ({self.seconds:.1f}s)")
        table.add_column("slice")
        table.add_column("users", justify="right")
        for metric in METRICS:
            table.add_column(metric.key, justify="right")
        for name, m in self.metrics.items():
            table.add_row(name, str(m["n_users"]), *(f"{m[metric.key]:.4f}" for metric in METRICS))
        return table

    def to_table_text(self) -> str:
        from rich.console import Console

        console = Console(width=110, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(self.to_table())
        return console.export_text()


def score_chunk(recommender: Recommender, split: TargetSplit, chunk, true_cols: np.ndarray, max_len: int | None):
    """One batch of examples: (history batch, scores (B, N_T), seen (B, N_T) bool, rank of the true item (B,)).
    The in-process loop below and the Ray Data actors (:mod:`crossrec.jobs.eval_data`) both run it."""
    batch = make_history_batch(split, chunk, max_len)
    scores = np.asarray(recommender.score(batch), dtype=np.float64)
    if scores.shape != (len(chunk), len(split.target_items)):
        raise ValueError(f"{type(recommender).__name__}.score returned shape {scores.shape}, "
                         f"expected {(len(chunk), len(split.target_items))}")
    seen = visible_target_mask(split, chunk)
    return batch, scores, seen, rank_of_true(scores, true_cols, seen)


def evaluate(recommender: Recommender, split: TargetSplit, role: str = "test", batch_size: int = 256,
             max_len: int | None = 50, progress: bool = True, predictions_out: str | Path | None = None,
             top_k: int = 10) -> EvalReport:
    """Score ``split``'s ``role`` examples with ``recommender`` (already fitted). Returns an :class:`EvalReport`
    with the slices overall/cold/warm/new_items/old_items and the exposure of new items in the top-10 lists.

    ``predictions_out`` writes one JSON line per user: ``{"user_id": ..., "items": [top_k item ids]}``
    (seen target items excluded), atomically.
    """
    t0 = time.perf_counter()
    rows = split.role(role)
    true_cols = target_columns(split, rows["item_idx"].to_numpy())
    ranks = np.empty(len(rows), dtype=np.int64)
    lines: list[str] = []
    catalogue_ids = split.item_index.item_ids[split.target_items]
    exposure = TopKExposure(len(split.target_items), EXPOSURE_K)
    width = max(top_k if predictions_out is not None else 0, EXPOSURE_K)
    bar = Progress(f"evaluating {role}", len(rows), unit="users", enabled=progress and len(rows) > batch_size)
    for start in range(0, len(rows), batch_size):
        chunk = rows.iloc[start : start + batch_size]
        batch, scores, seen, ranks[start : start + len(chunk)] = score_chunk(
            recommender, split, chunk, true_cols[start : start + len(chunk)], max_len)
        top = top_columns(scores, seen, width)  # (B, width), seen target items last (dropped below)
        shown = ~np.take_along_axis(seen, top, axis=1)
        exposure.add(top[:, :EXPOSURE_K], shown[:, :EXPOSURE_K])
        if predictions_out is not None:
            for uid, cols in zip(batch.user_ids, top[:, :top_k], strict=True):
                lines.append(json.dumps({"user_id": str(uid), "items": [str(i) for i in catalogue_ids[cols]]}))
        bar.update(start + len(chunk))
    bar.close()
    if predictions_out is not None:
        atomic_write_text(Path(predictions_out), "\n".join(lines) + ("\n" if lines else ""))
    unseen = unseen_items(split)
    metrics = summarize(ranks, rows["slice"].to_numpy(), new_items=unseen[rows["item_idx"].to_numpy(dtype=np.int64)])
    name = getattr(recommender, "name", type(recommender).__name__)
    return EvalReport(name, split.target, role, metrics, time.perf_counter() - t0,
                      exposure=exposure.summary(unseen[split.target_items]))
