"""In-process fitting loop (no Ray): epochs, validation, early stopping, best-state restore, time cap.

Ray Train's worker loop (:mod:`crossrec.train.ray_trainer`) checkpoints every epoch through Ray; this loop
is the plain-PyTorch equivalent used by benchmarks and notebooks, where one process trains several
methods side by side on the same split.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crossrec.train.engine import TargetDomainTrainer


@dataclass
class FitResult:
    """Outcome of :func:`fit_in_process`; ``history`` has one dict per epoch."""

    best_epoch: int
    best_valid_ndcg: float
    epochs: int
    seconds: float
    stopped_by: str  # "epochs" | "patience" | "time"
    history: list[dict[str, float]] = field(default_factory=list)


def fit_in_process(
    trainer: TargetDomainTrainer,
    max_epochs: int,
    patience: int | None = None,
    max_seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Train ``trainer`` until ``max_epochs``, ``patience`` epochs without a better valid NDCG@10, or
    ``max_seconds`` of wall time (checked between epochs); then restore the best epoch's heads and text table.
    """
    t_start = time.perf_counter()
    best, best_epoch, best_state, since_best = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    stopped_by = "epochs"
    for _ in range(max_epochs):
        stats = trainer.train_epoch()
        report = trainer.evaluate("valid")
        ndcg = float(report.metrics["overall"]["ndcg@10"])
        history.append({"epoch": trainer.epoch, "loss": stats.loss, "valid_ndcg_at_10": ndcg,
                        "epoch_seconds": stats.seconds, "samples_per_s": stats.samples_per_s})
        improved = ndcg > best
        if improved:
            best, best_epoch, since_best = ndcg, trainer.epoch, 0
            best_state = _snapshot(trainer)
        else:
            since_best += 1
        elapsed = time.perf_counter() - t_start
        log(f"  epoch {trainer.epoch}: loss {stats.loss:.4f} valid NDCG@10 {ndcg:.4f}{' *' if improved else ''} "
            f"({stats.seconds:.0f}s train, {elapsed / 60:.1f} min total)")
        if patience is not None and since_best >= patience:
            stopped_by = "patience"
            break
        if max_seconds is not None and elapsed >= max_seconds:
            stopped_by = "time"
            break
    if best_state is not None:
        _restore(trainer, best_state)
    return FitResult(best_epoch, best, trainer.epoch, time.perf_counter() - t_start, stopped_by, history)


def _snapshot(trainer: TargetDomainTrainer) -> dict:
    model = trainer.model
    return {"heads": copy.deepcopy(model.state_dict()), "text": model.item_tower.text_table.clone()}


def _restore(trainer: TargetDomainTrainer, state: dict) -> None:
    trainer.model.load_state_dict(state["heads"])
    trainer.model.item_tower.set_text_table(state["text"])
