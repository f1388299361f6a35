"""Fitting one method of the quality benchmark on a split: baselines and crossrec ablations alike.

Every method ends as a :class:`~crossrec.eval.protocol.Recommender` that the one evaluation runner scores,
so all rows of the results table are measured by the same code on the same split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from crossrec.benchmarks.quality_config import BudgetConfig, MethodConfig
from crossrec.data.split import TargetSplit
from crossrec.eval.epoch_loop import VALID_SCORE
from crossrec.eval.protocol import Recommender

if TYPE_CHECKING:  # annotations only: a baseline's cache key must not follow the training config's code
    from crossrec.train.config import TrainConfig


@dataclass
class FittedMethod:
    """A fitted recommender and what fitting it cost."""

    recommender: Recommender
    max_len: int | None
    fit_seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def crossrec_config(base: TrainConfig, spec: MethodConfig, seed: int) -> TrainConfig:
    """``base`` with the method's dotted-path overrides and the seed applied (validated)."""
    from crossrec.tune.config import apply_params

    return apply_params(base, {**spec.overrides, "seed": seed}, source=f"method {spec.name}")


def fit_method(
    spec: MethodConfig,
    split: TargetSplit,
    base: TrainConfig,
    seed: int,
    budget: BudgetConfig,
    log: Callable[[str], None] = print,
) -> FittedMethod:
    """Fit ``spec`` on ``split`` with ``seed`` within ``budget``."""
    t0 = time.perf_counter()
    if spec.kind == "mostpop":
        from crossrec.eval.baselines.mostpop import MostPop

        rec: Any = MostPop()
        rec.fit(split)
        return FittedMethod(rec, None, time.perf_counter() - t0)
    if spec.kind == "zero_shot":
        from crossrec.eval.baselines.zero_shot import ZeroShot

        rec = ZeroShot(backbone=base.backbone, **spec.params)
        rec.fit(split)
        return FittedMethod(rec, None, time.perf_counter() - t0)
    if spec.kind == "sasrec":
        from crossrec.eval.baselines.sasrec import SASRec

        torch.manual_seed(seed)
        params = {"max_epochs": budget.max_epochs, "max_minutes": budget.max_minutes,
                  **({"patience": budget.patience} if budget.patience else {}), **spec.params, "seed": seed}
        rec = SASRec(**params)
        rec.fit(split)
        info = {k: v for k, v in getattr(rec, "fit_stats", {}).items() if isinstance(v, int | float | str)}
        return FittedMethod(rec, getattr(rec, "eval_max_len", None), time.perf_counter() - t0, info)
    return _fit_crossrec(spec, split, base, seed, budget, log, t0)


def _fit_crossrec(spec: MethodConfig, split: TargetSplit, base: TrainConfig, seed: int, budget: BudgetConfig,
                  log: Callable[[str], None], t0: float) -> FittedMethod:
    from crossrec.eval.model_scorer import CrossRecScorer
    from crossrec.train.engine import TargetDomainTrainer
    from crossrec.train.fit import fit_in_process

    cfg = crossrec_config(base, spec, seed)
    trainer = TargetDomainTrainer(cfg, split, log=log)
    counts = trainer.trainable_parameter_count()
    log(f"  {len(trainer.windows)} windows; trainable heads {counts['heads']:,}, lora {counts['lora']:,}")
    result = fit_in_process(trainer, budget.max_epochs, budget.patience, budget.max_minutes * 60, log)
    trainer.model.eval()
    scorer = CrossRecScorer(trainer.model, split, device=trainer.device, batch_size=cfg.eval.batch_size)
    info = {"best_epoch": result.best_epoch, "epochs": result.epochs, "stopped_by": result.stopped_by,
            f"best_{VALID_SCORE}": result.best_score, **{f"trainable_{k}": v for k, v in counts.items()},
            "precision": cfg.backbone.precision, "lora": cfg.lora is not None,
            "valid_ndcg_curve": [round(s, 4) for s in result.scores]}
    return FittedMethod(scorer, trainer.model.history_window, time.perf_counter() - t0, info)
