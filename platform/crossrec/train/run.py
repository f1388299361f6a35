"""Driver of a training run: one Ray Train fit per target domain, then test metrics and the bundle.

Re-running the same config (same ``run_name`` and ``storage_path``) resumes: finished targets are
skipped and an interrupted one continues from its latest checkpoint (Ray Train V2 restores a run
whose (storage_path, name) already exists).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from crossrec.eval.epoch_loop import VALID_SCORE
from crossrec.eval.model_scorer import training_popularity
from crossrec.model.bundle import save_bundle
from crossrec.tracking import Tracker, flatten
from crossrec.train.checkpoint import read_trainer_state
from crossrec.train.config import TrainConfig
from crossrec.train.data_access import load_split_for
from crossrec.train.final_eval import evaluate_checkpoint
from crossrec.train.preflight import check_train_config
from crossrec.train.ray_trainer import build_trainer
from crossrec.utils import ray_logs
from crossrec.utils.io import atomic_write_json


@dataclass
class TrainResult:
    run_dir: Path
    bundle_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (or RAY_ADDRESS, set inside Ray jobs), else start a new embedded local Ray."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True}
    if address:
        kwargs["address"] = address  # e.g. "auto" for a cluster started with `ray start` on this node
    elif not os.environ.get("RAY_ADDRESS"):  # inside `ray job submit`, RAY_ADDRESS names the cluster
        # "local": a new embedded runtime even when another Ray runs on this machine.
        kwargs.update(address="local", num_cpus=num_cpus, object_store_memory=300 * 1024 * 1024,
                      include_dashboard=False, runtime_env={"worker_process_setup_hook": ray_logs.HOOK})
    ray_logs.install()
    ray.init(**kwargs)


def run_training(cfg: TrainConfig, address: str | None = None) -> TrainResult:
    """Train every target of ``cfg`` and write the bundle + ``metrics.json`` under ``cfg.run_dir()``."""
    t0 = time.perf_counter()
    cfg = cfg.resolve_paths(Path.cwd())
    check_train_config(cfg)  # bad inputs fail here, in one line, before Ray starts
    run_dir, remote = output_dirs(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.to_yaml(run_dir / "config.yaml")
    ensure_ray(address)
    tracker = Tracker.start(cfg.tracking, run_dir, experiment=cfg.run_name, run_name=cfg.run_name,
                            params=flatten(cfg.model_dump(mode="json", exclude={"submission", "tracking"})),
                            tags={"crossrec.kind": "train", "crossrec.run_dir": str(run_dir)},
                            resume_key=f"train:{run_dir}")
    try:
        result = _train_all(cfg, run_dir, tracker, t0)
        if remote:
            publish_run(run_dir, remote)
    except BaseException:
        tracker.finish(failed=True)
        raise
    tracker.finish()
    return result


def output_dirs(cfg: TrainConfig) -> tuple[Path, str | None]:
    """(local directory the run's outputs are written to, URI they are published to, or None).

    With a local ``storage_path`` both are the run directory. With a URI (``s3://…``), Ray Train keeps the
    checkpoints there itself, and the bundle, ``metrics.json`` and ``config.yaml`` are written to a local
    staging directory (``$CROSSREC_CACHE/runs``, default ``~/.cache/crossrec/runs``) and published at the end
    (:func:`publish_run`), so a URI never becomes a local folder named ``s3:``."""
    from crossrec.utils.storage import is_uri, staging_dir

    if not is_uri(cfg.run_dir()):
        return Path(cfg.run_dir()), None
    return staging_dir("runs", cfg.run_name, cfg.run_dir()), cfg.run_dir()


def publish_run(run_dir: Path, uri: str) -> None:
    """Upload the bundle (manifest last: readers never see part of it) and then metrics.json / config.yaml."""
    from crossrec.utils.storage import join, publish_dir, write_bytes

    publish_dir(run_dir / "bundle", join(uri, "bundle"))
    for name in ("config.yaml", "metrics.json"):
        write_bytes(join(uri, name), (run_dir / name).read_bytes())
    print(f"published the bundle and metrics to {uri}", flush=True)


def _train_all(cfg: TrainConfig, run_dir: Path, tracker: Tracker, t0: float) -> TrainResult:
    models, popularity, adapters, metrics = {}, {}, {}, {}
    identity = None
    for target in cfg.targets:
        print(f"== training target domain {target!r} ({cfg.scaling.num_workers} worker(s)) ==", flush=True)
        result = build_trainer(cfg, target, tracker).fit()
        resumed_at = _resumed_at_epochs(result)
        best = _best_checkpoint(result)
        with best.as_directory() as ckpt_dir:
            split = load_split_for(cfg.dataset, target)
            final = evaluate_checkpoint(cfg, split, Path(ckpt_dir))
            state = read_trainer_state(Path(ckpt_dir))
            models[target] = final.model
            popularity[target] = training_popularity(split, final.model.catalogue.numpy())
            if (Path(ckpt_dir) / "adapter").is_dir():
                keep = run_dir / "adapters" / target
                _copy_dir(Path(ckpt_dir) / "adapter", keep)
                adapters[target] = keep
            identity = final.backbone_identity or identity
        metrics[target] = {
            "best_epoch": state["epoch"],
            "valid": {VALID_SCORE: state["best_ndcg"]},
            "test": final.report.metrics,
            "history": state["history"],
            "resumed_at_epochs": resumed_at,  # restores from a checkpoint: worker restarts and re-runs
        }
        print(final.report.to_table_text(), flush=True)
        tracker.log_metrics({f"{target}/test_{sl}_{k}": v for sl, m in final.report.metrics.items()
                             for k, v in m.items() if k != "n_users"}, step=state["epoch"])
    meta = {
        "run_name": cfg.run_name,
        "model": cfg.model.model_dump(mode="json"),
        "backbone": cfg.backbone.model_dump(mode="json"),
        "lora": cfg.lora.model_dump(mode="json") if cfg.lora else None,
        "metrics": {t: {"test": m["test"], "best_epoch": m["best_epoch"]} for t, m in metrics.items()},
    }
    split_index = split.item_index
    bundle_dir = save_bundle(run_dir / "bundle", split_index, models, popularity, meta, identity, adapters)
    seconds = time.perf_counter() - t0
    atomic_write_json(run_dir / "metrics.json", {"targets": metrics, "seconds": seconds})
    print(f"bundle written to {bundle_dir} ({seconds:.0f}s)", flush=True)
    tracker.log_metrics({"train_seconds": seconds})
    tracker.log_artifacts(bundle_dir, "bundle")
    if tracker.active:
        print(f"tracked as MLflow run {tracker.run_id} ({tracker.uri})", flush=True)
    return TrainResult(run_dir, bundle_dir, metrics, seconds)


def _best_checkpoint(result):
    ranked = [(m.get(VALID_SCORE, float("-inf")), c) for c, m in (result.best_checkpoints or [])]
    if ranked:
        return max(ranked, key=lambda x: x[0])[1]
    if result.checkpoint is None:
        raise RuntimeError(f"training produced no checkpoint: {result.error}")
    return result.checkpoint


def _resumed_at_epochs(result) -> list[int]:
    """Epochs at which the run was restored from a checkpoint, read from its latest checkpoint."""
    if result.checkpoint is None:
        return []
    with result.checkpoint.as_directory() as ckpt_dir:
        return list(read_trainer_state(Path(ckpt_dir)).get("resumed_at_epochs", []))


def _copy_dir(src: Path, dst: Path) -> None:
    import shutil

    from crossrec.utils.io import atomic_directory

    with atomic_directory(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)


def load_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
