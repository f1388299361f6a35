"""The one epoch loop: train an epoch, validate, keep the best state, stop early (plain Python, no Ray).

Every trained method runs it: crossrec in-process (``train/fit.py``) and on Ray Train workers
(``train/ray_trainer.py``), the SASRec baseline, and the fast Tune trials. What differs between them is
passed in: how one epoch trains and validates, how the best state is kept (a snapshot in memory, or a Ray
checkpoint per epoch), and what happens after each epoch (a log line, a Ray/Tune report).

The selection metric is the registry's (``valid_ndcg_at_10``). An epoch improves on the best when its
score is strictly higher (ties keep the earlier epoch); a NaN score (no validation rows) always counts as
an improvement, so such a run keeps its latest state and never stops early.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crossrec.eval.metrics import SELECTION_METRIC

VALID_SCORE = SELECTION_METRIC.logged("valid")  # "valid_ndcg_at_10"
STOP_REASONS = ("max_epochs", "patience", "max_minutes")

__all__ = ["STOP_REASONS", "VALID_SCORE", "EpochLoop", "LoopResult", "best_epoch"]


@dataclass
class LoopResult:
    """Outcome of :meth:`EpochLoop.run`; ``history`` has one metrics dict per epoch (resumed ones included)."""

    best_epoch: int
    best_score: float
    epochs: int
    seconds: float
    stopped_by: str  # one of STOP_REASONS
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [float(h[VALID_SCORE]) for h in self.history]


def best_epoch(history: list[dict[str, Any]], metric: str = VALID_SCORE) -> tuple[int, float]:
    """(1-based epoch, score) of the best epoch of ``history`` under the loop's rule; (0, -inf) when empty."""
    best, at = -math.inf, 0
    for epoch, metrics in enumerate(history, start=1):
        score = float(metrics[metric])
        if math.isnan(score) or score > best:
            best, at = score, epoch
    return at, best


class EpochLoop:
    """Epochs until ``max_epochs``, ``patience`` epochs without a better ``metric``, or ``max_seconds`` of wall
    time (checked between epochs, counted from ``started_at`` when given, else from :meth:`run`)."""

    def __init__(self, max_epochs: int, patience: int | None = None, max_seconds: float | None = None,
                 metric: str = VALID_SCORE) -> None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        self.max_epochs, self.patience, self.max_seconds, self.metric = max_epochs, patience, max_seconds, metric

    def run(
        self,
        train_and_validate: Callable[[int], dict[str, Any]],
        *,
        history: list[dict[str, Any]] | None = None,
        snapshot: Callable[[], Any] | None = None,
        restore: Callable[[Any], None] | None = None,
        on_epoch: Callable[[dict[str, Any], bool], None] | None = None,
        log: Callable[[str], None] | None = None,
        started_at: float | None = None,
    ) -> LoopResult:
        """Run the loop.

        Args:
            train_and_validate: trains epoch ``e`` (1-based) and returns its metrics, including ``metric``.
            history: metrics of epochs already run (a resumed run); appended to in place.
            snapshot, restore: keep the best epoch's state in memory and restore it at the end.
            on_epoch: called after every epoch with (metrics, improved): logging, checkpoints, reports.
            log: receives one line when the loop stops early.
            started_at: ``time.perf_counter()`` value the time cap counts from.
        """
        t0 = time.perf_counter() if started_at is None else started_at
        history = [] if history is None else history
        best_at, best = best_epoch(history, self.metric)
        best_state, stopped = None, "max_epochs"
        if self._out_of_patience(len(history), best_at):
            stopped = "patience"
        while stopped == "max_epochs" and len(history) < self.max_epochs:
            epoch = len(history) + 1
            metrics = train_and_validate(epoch)
            history.append(metrics)
            score = float(metrics[self.metric])
            improved = math.isnan(score) or score > best
            if improved:
                best, best_at = score, epoch
                best_state = snapshot() if snapshot is not None else None
            if on_epoch is not None:
                on_epoch(metrics, improved)
            if self._out_of_patience(epoch, best_at):
                stopped = "patience"
            elif self.max_seconds is not None and time.perf_counter() - t0 >= self.max_seconds:
                stopped = "max_minutes"
        if stopped == "patience" and log is not None:
            log(f"early stop: no better {self.metric} for {self.patience} epochs (best: epoch {best_at})")
        if restore is not None and best_state is not None:
            restore(best_state)
        return LoopResult(best_at, best, len(history), time.perf_counter() - t0, stopped, history)

    def _out_of_patience(self, epochs: int, best_at: int) -> bool:
        return self.patience is not None and epochs > 0 and epochs - best_at >= self.patience
