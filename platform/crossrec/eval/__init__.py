"""Evaluation: the metric registry, the Recommender protocol, the runner, the shared epoch loop, baselines."""

from crossrec.utils.lazy import lazy_exports

_EXPORTS = {
    "METRICS": "crossrec.eval.metrics",
    "SELECTION_METRIC": "crossrec.eval.metrics",
    "Metric": "crossrec.eval.metrics",
    "rank_of_true": "crossrec.eval.metrics",
    "summarize": "crossrec.eval.metrics",
    "HistoryBatch": "crossrec.eval.protocol",
    "Recommender": "crossrec.eval.protocol",
    "make_history_batch": "crossrec.eval.protocol",
    "EvalReport": "crossrec.eval.runner",
    "evaluate": "crossrec.eval.runner",
    "EpochLoop": "crossrec.eval.epoch_loop",
    "LoopResult": "crossrec.eval.epoch_loop",
    "VALID_SCORE": "crossrec.eval.epoch_loop",
    "CrossRecScorer": "crossrec.eval.model_scorer",
    "evaluate_bundle": "crossrec.eval.bundle_eval",
    "MostPop": "crossrec.eval.baselines.mostpop",
    "SASRec": "crossrec.eval.baselines.sasrec",
    "ZeroShot": "crossrec.eval.baselines.zero_shot",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
