"""Evaluate a trained bundle on a dataset's benchmark split (``crossrec evaluate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossrec.data.dataset import load_dataset
from crossrec.data.split import TargetSplit, split_target
from crossrec.errors import BundleError, ConfigError
from crossrec.eval.explanations import add_explanations
from crossrec.eval.model_scorer import CrossRecScorer
from crossrec.eval.runner import EvalReport, evaluate
from crossrec.model.bundle import ModelBundle, TargetModel


def check_same_catalogue(bundle: ModelBundle, split: TargetSplit) -> None:
    """The bundle's item index must equal the dataset's: ids are positions in the embedding tables."""
    ours, theirs = bundle.item_index, split.item_index
    if len(ours.item_ids) != len(theirs.item_ids) or not np.array_equal(ours.item_ids, theirs.item_ids):
        raise BundleError(
            f"{bundle.path}: the bundle was trained on a different item catalogue "
            f"({len(ours.item_ids) - 1} items) than the dataset ({len(theirs.item_ids) - 1} items)"
        )


def bundle_scorer(bundle_path: str | Path, dataset: str | Path, target: str,
                  batch_size: int = 512) -> tuple[TargetModel, TargetSplit, CrossRecScorer]:
    """``target``'s model from the bundle, the dataset's split for it (same catalogue, checked) and the scorer
    that evaluation runs: in this process (:func:`evaluate_bundle`) or in each Ray Data actor."""
    bundle = ModelBundle.load(bundle_path, targets=[target])
    split = split_target(load_dataset(dataset), target)
    check_same_catalogue(bundle, split)
    tm = bundle.target(target)
    return tm, split, CrossRecScorer(tm.model, split, batch_size=batch_size, popularity=tm.popularity)


def evaluate_bundle(bundle_path: str | Path, dataset: str | Path, target: str, role: str = "test",
                    predictions_out: str | Path | None = None, batch_size: int = 512,
                    top_k: int = 10, explain_n: int | None = None) -> EvalReport:
    """Full-ranking metrics of BENCHMARK.md for ``target``; optional per-user top-k JSONL, whose items then
    carry up to ``explain_n`` explaining history items each (``because``) when ``explain_n`` is given."""
    if explain_n is not None and predictions_out is None:
        raise ConfigError("explanations are written with the predictions: give a predictions output too")
    tm, split, scorer = bundle_scorer(bundle_path, dataset, target, batch_size)
    report = evaluate(scorer, split, role=role, batch_size=batch_size, max_len=tm.model.history_window,
                      predictions_out=predictions_out, top_k=top_k)
    if explain_n is not None:
        add_explanations(Path(predictions_out), tm.model, split, role, explain_n)
    return report
