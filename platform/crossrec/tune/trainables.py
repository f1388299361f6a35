"""Tune trial functions. Each converts its config dict to typed configs on the first line.

fast: heads only, on a frozen item text table (no LLM forward per step) — dozens of trials on 2 CPUs.
full: each trial fits a Ray Train ``TorchTrainer`` (LoRA + heads) and forwards its reports to Tune.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from ray import tune

from crossrec.eval.epoch_loop import VALID_SCORE, EpochLoop
from crossrec.train.config import TrainConfig
from crossrec.tune.config import apply_params

METRIC = VALID_SCORE  # what the sweep maximises


def fast_trial(params: dict[str, Any], *, base: dict[str, Any], target: str, text_table: torch.Tensor | None) -> None:
    from crossrec.model.text_side import ItemTextSide
    from crossrec.train.data_access import load_split_for
    from crossrec.train.engine import TargetDomainTrainer
    from crossrec.train.fit import epoch_metrics

    cfg = apply_params(TrainConfig.from_dict(base), params).model_copy(update={"lora": None})
    torch.set_num_threads(max(1, int(cfg.scaling.torch_threads or 1)))
    split = load_split_for(cfg.dataset, target)
    text = ItemTextSide.frozen(split.item_index, target, text_table) if text_table is not None else None
    trainer = TargetDomainTrainer(cfg, split, text=text, log=lambda _m: None)
    t0 = time.perf_counter()

    def report(metrics: dict[str, Any], _improved: bool) -> None:
        tune.report({**metrics, "trial_seconds": time.perf_counter() - t0})

    # every epoch is reported; the sweep's scheduler (ASHA) does the early stopping across trials
    EpochLoop(cfg.optim.epochs).run(lambda _epoch: epoch_metrics(trainer), on_epoch=report, started_at=t0)


def full_trial(params: dict[str, Any], *, base: dict[str, Any], target: str, storage: str) -> None:
    from ray.tune.integration.ray_train import TuneReportCallback

    from crossrec.train.ray_trainer import build_trainer

    trial = tune.get_context().get_trial_id()
    cfg = apply_params(TrainConfig.from_dict(base), params).model_copy(
        update={"run_name": f"trial-{trial}", "storage_path": storage})
    trainer = build_trainer(cfg, target)
    trainer.run_config.callbacks = [*(trainer.run_config.callbacks or []), TuneReportCallback()]
    trainer.fit()
