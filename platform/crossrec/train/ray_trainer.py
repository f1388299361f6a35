"""Ray Train layer: one ``TorchTrainer`` per target domain around :class:`TargetDomainTrainer`.

Data loading: each worker reads the Parquet dataset and builds the split itself (a per-worker loader)
rather than streaming rows through Ray Data: the model needs each user's *whole ordered history* to cut
training windows, which a row-sharded Ray Dataset would have to regroup, while a canonical dataset of
millions of interactions loads and splits in seconds per worker. Workers then take disjoint shards of a
shared permutation of the windows each epoch.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray.train
import torch
from ray.train import Checkpoint, FailureConfig, RunConfig
from ray.train.torch import TorchTrainer

from crossrec.eval.epoch_loop import VALID_SCORE, EpochLoop
from crossrec.eval.metrics import RECALL_AT_10
from crossrec.tracking import Tracker
from crossrec.train.checkpoint import load_checkpoint, save_checkpoint
from crossrec.train.config import TrainConfig
from crossrec.train.data_access import load_split_for
from crossrec.train.engine import TargetDomainTrainer
from crossrec.train.faults import kill_hook
from crossrec.train.fit import epoch_metrics
from crossrec.utils.progress import format_seconds

VALID_RECALL = RECALL_AT_10.logged("valid")


def _wrap_ddp(module: torch.nn.Module) -> torch.nn.Module:
    # move_to_device=False: a k-bit backbone is already placed with device_map and cannot be moved.
    return ray.train.torch.prepare_model(
        module, move_to_device=False, parallel_strategy_kwargs={"find_unused_parameters": True}
    )


def worker_log(message: str) -> None:
    """One progress line from a Train worker.

    Ray Train 2.5x patches ``print`` in workers to log *and* echo each line when stdout is wrapped, so every
    ``print`` reached the driver twice; writing to stdout directly gives one line.
    """
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Worker entry point. ``loop_config = {"train": TrainConfig as JSON dict, "target": str}``."""
    cfg = TrainConfig.from_dict(loop_config["train"], source="train_loop_config")
    target: str = loop_config["target"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    if cfg.scaling.torch_threads:
        torch.set_num_threads(cfg.scaling.torch_threads)
    device = ray.train.torch.get_device() if cfg.scaling.use_gpu else torch.device("cpu")
    log = worker_log if rank == 0 else (lambda _msg: None)
    tracker = Tracker.from_dict(loop_config.get("tracking")) if rank == 0 else Tracker.disabled()

    split = load_split_for(cfg.dataset, target)
    trainer = TargetDomainTrainer(cfg, split, device=device, wrap=_wrap_ddp if world > 1 else None,
                                  rank=rank, world_size=world, log=log)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            load_checkpoint(trainer, Path(ckpt_dir))
        log(f"[{target}] resumed from checkpoint at epoch {trainer.epoch}")
    else:
        counts = trainer.trainable_parameter_count()
        log(f"[{target}] {len(trainer.windows)} training windows, {trainer.windows.n_labels} labels, "
            f"{trainer.model.n_catalogue} target items; trainable params: heads {counts['heads']:,}, lora {counts['lora']:,}")
    run_epochs(trainer, cfg, target, rank, log, tracker)


def run_epochs(trainer: TargetDomainTrainer, cfg: TrainConfig, target: str, rank: int, log,
               tracker: Tracker | None = None) -> None:
    """Train until ``optim.epochs`` or early stopping (the shared :class:`EpochLoop`, resumed from the
    checkpoint's history); validate, checkpoint, report (and track, on rank 0) every epoch. Ray keeps the best
    checkpoint."""
    tracker = tracker or Tracker.disabled()

    def train_and_validate(epoch: int) -> dict:
        every = max(1, len(trainer.windows) // cfg.optim.batch_size // 10)
        t_epoch = time.perf_counter()
        fault = kill_hook(epoch, rank)  # None unless a reliability test asks for a worker kill

        def progress(step: int, n_steps: int, loss: float) -> None:
            if fault is not None:
                fault(step, n_steps)
            if step % every == 0 or step == n_steps:
                elapsed = time.perf_counter() - t_epoch
                rate = step / max(elapsed, 1e-9)
                log(f"[{target}] epoch {epoch} step {step}/{n_steps} loss {loss:.4f} ({format_seconds(elapsed)}, "
                    f"{rate * cfg.optim.batch_size:,.0f} windows/s, ETA {format_seconds((n_steps - step) / rate)})")

        return epoch_metrics(trainer, progress)

    def checkpoint_and_report(metrics: dict, _improved: bool) -> None:
        trainer.best_ndcg = max(trainer.best_ndcg, metrics[VALID_SCORE])
        log(f"[{target}] epoch {trainer.epoch}/{cfg.optim.epochs} loss {metrics['loss']:.4f} "
            f"valid NDCG@10 {metrics[VALID_SCORE]:.4f} Recall@10 {metrics[VALID_RECALL]:.4f} "
            f"{metrics['samples_per_s']:.0f} windows/s ({metrics['epoch_seconds']:.1f}s)")
        tracker.log_metrics({f"{target}/{k}": v for k, v in metrics.items() if k != "epoch"}, step=metrics["epoch"])
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                save_checkpoint(trainer, Path(tmp))
                checkpoint = Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)

    EpochLoop(cfg.optim.epochs, cfg.optim.patience).run(
        train_and_validate, history=trainer.history, on_epoch=checkpoint_and_report,
        log=lambda line: log(f"[{target}] {line}"))


def build_trainer(cfg: TrainConfig, target: str, tracker: Tracker | None = None) -> TorchTrainer:
    """The ``TorchTrainer`` of one target domain. Re-running with the same (storage, name) resumes. Rank 0
    logs each epoch's metrics into ``tracker``'s run (prefixed ``<target>/``)."""
    s = cfg.scaling
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": cfg.model_dump(mode="json"), "target": target,
                           "tracking": tracker.as_dict() if tracker is not None else None},
        scaling_config=ray.train.ScalingConfig(
            num_workers=s.num_workers, use_gpu=s.use_gpu, resources_per_worker=s.resources_per_worker()
        ),
        run_config=RunConfig(
            name=target,
            storage_path=cfg.run_dir(),
            failure_config=FailureConfig(max_failures=cfg.checkpoint.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=cfg.checkpoint.keep_best,
                checkpoint_score_attribute=VALID_SCORE,
                checkpoint_score_order="max",
            ),
        ),
    )
