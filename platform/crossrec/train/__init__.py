"""Training: the plain-PyTorch engine of one target domain and the thin Ray Train layer around it."""

from crossrec.utils.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "crossrec.train.config",
    "TargetDomainTrainer": "crossrec.train.engine",
    "epoch_metrics": "crossrec.train.fit",
    "fit_in_process": "crossrec.train.fit",
    "load_checkpoint": "crossrec.train.checkpoint",
    "save_checkpoint": "crossrec.train.checkpoint",
    "evaluate_checkpoint": "crossrec.train.final_eval",
    "model_from_checkpoint": "crossrec.train.final_eval",
    "load_split_for": "crossrec.train.data_access",
    "build_trainer": "crossrec.train.ray_trainer",
    "TrainResult": "crossrec.train.run",
    "run_training": "crossrec.train.run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
