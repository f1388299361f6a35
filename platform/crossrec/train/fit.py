"""In-process fitting (no Ray): the shared :class:`~crossrec.eval.epoch_loop.EpochLoop` around a
:class:`TargetDomainTrainer`, with the best epoch's heads and text table restored at the end.

Ray Train's worker loop (:mod:`crossrec.train.ray_trainer`) runs the same loop and checkpoints every epoch
through Ray; this is the plain-PyTorch way used by benchmarks and notebooks, where one process trains
several methods side by side on the same split.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from crossrec.eval.epoch_loop import VALID_SCORE, EpochLoop, LoopResult
from crossrec.eval.metrics import RECALL_AT_10, SELECTION_METRIC
from crossrec.train.engine import TargetDomainTrainer

__all__ = ["epoch_metrics", "fit_in_process"]


def epoch_metrics(trainer: TargetDomainTrainer, progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    """Train one epoch of ``trainer`` and validate it: the metrics every training path logs and reports."""
    stats = trainer.train_epoch(progress)
    t0 = time.perf_counter()
    overall = trainer.evaluate("valid").metrics["overall"]
    return {"epoch": trainer.epoch, "loss": stats.loss, "samples_per_s": stats.samples_per_s,
            "epoch_seconds": stats.seconds, "valid_seconds": time.perf_counter() - t0,
            VALID_SCORE: float(overall[SELECTION_METRIC.key]),
            RECALL_AT_10.logged("valid"): float(overall[RECALL_AT_10.key])}


def fit_in_process(
    trainer: TargetDomainTrainer,
    max_epochs: int,
    patience: int | None = None,
    max_seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> LoopResult:
    """Train ``trainer`` until ``max_epochs``, ``patience`` epochs without a better valid NDCG@10, or
    ``max_seconds`` of wall time (checked between epochs); then restore the best epoch's heads and text table.
    """
    t_start = time.perf_counter()

    def report(metrics: dict[str, Any], improved: bool) -> None:
        log(f"  epoch {metrics['epoch']}: loss {metrics['loss']:.4f} valid NDCG@10 {metrics[VALID_SCORE]:.4f}"
            f"{' *' if improved else ''} ({metrics['epoch_seconds']:.0f}s train, "
            f"{(time.perf_counter() - t_start) / 60:.1f} min total)")

    loop = EpochLoop(max_epochs, patience, max_seconds)
    return loop.run(lambda _epoch: epoch_metrics(trainer), snapshot=lambda: _snapshot(trainer),
                    restore=lambda state: _restore(trainer, state), on_epoch=report, started_at=t_start)


def _snapshot(trainer: TargetDomainTrainer) -> dict:
    model = trainer.model
    return {"heads": copy.deepcopy(model.state_dict()), "text": model.item_tower.text_table.clone()}


def _restore(trainer: TargetDomainTrainer, state: dict) -> None:
    trainer.model.load_state_dict(state["heads"])
    trainer.model.item_tower.set_text_table(state["text"])
