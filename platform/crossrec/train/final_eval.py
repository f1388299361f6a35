"""Rebuild a target's model from a training checkpoint (no backbone needed) and score the test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossrec.data.split import TargetSplit
from crossrec.eval.model_scorer import CrossRecScorer
from crossrec.eval.runner import EvalReport, evaluate
from crossrec.model.factory import load_heads
from crossrec.model.recommender import CrossRecModel
from crossrec.train.checkpoint import read_trainer_state
from crossrec.train.config import TrainConfig


@dataclass
class FinalEvaluation:
    model: CrossRecModel
    report: EvalReport
    backbone_identity: dict[str, Any] | None


def model_from_checkpoint(cfg: TrainConfig, split: TargetSplit, ckpt_dir: Path) -> CrossRecModel:
    """The eval-mode CrossRecModel stored in ``ckpt_dir`` (heads + cached text table)."""
    return load_heads(cfg.model, split.item_index, split.target, ckpt_dir, owner="checkpoint")


def evaluate_checkpoint(cfg: TrainConfig, split: TargetSplit, ckpt_dir: Path, role: str = "test") -> FinalEvaluation:
    model = model_from_checkpoint(cfg, split, ckpt_dir)
    scorer = CrossRecScorer(model, split, batch_size=cfg.eval.batch_size)
    report = evaluate(scorer, split, role=role, batch_size=cfg.eval.batch_size, max_len=model.history_window)
    identity = read_trainer_state(ckpt_dir).get("backbone")
    return FinalEvaluation(model, report, identity)
