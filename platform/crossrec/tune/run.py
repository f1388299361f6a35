"""Run (or resume) a sweep: ``run_sweep(SweepConfig)`` → results.csv, best_config.yaml, sweep.png."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from crossrec.errors import ConfigError
from crossrec.model.backbone import require_quantization
from crossrec.tracking import prepare_experiment
from crossrec.train.config import TrainConfig
from crossrec.train.preflight import check_bundle_backbone, check_dataset_targets, uses_backbone
from crossrec.train.run import ensure_ray
from crossrec.tune.config import SweepConfig, build_search_space
from crossrec.tune.outputs import METRIC, plot, results_table, write_best_config
from crossrec.tune.trainables import fast_trial, full_trial
from crossrec.utils.extras import require
from crossrec.utils.storage import is_uri, join, staging_dir, write_bytes


@dataclass
class SweepResult:
    dir: Path
    table: Any
    best_params: dict
    best_config_path: Path
    seconds: float
    resumed: bool


def _text_table(cfg: SweepConfig, base) -> Any:
    """The frozen item text table fast trials read: the bundle's (adapted) one, else the base backbone's."""
    if not base.model.tower.use_text:
        return None
    if cfg.bundle:
        from crossrec.model.bundle import ModelBundle

        return ModelBundle.load(cfg.bundle, targets=[cfg.target]).targets[cfg.target].model.item_tower.text_table
    import torch

    from crossrec.model.text_side import ItemTextSide
    from crossrec.train.data_access import load_split_for

    split = load_split_for(base.dataset, cfg.target)
    return ItemTextSide.create(base.backbone, None, split.item_index, cfg.target, torch.device("cpu")).text_table()


def check_sweep_extras(cfg: SweepConfig, base: TrainConfig, source: str) -> None:
    """The optional dependencies this sweep uses are installed (one line naming the extra otherwise), checked
    before Ray starts rather than when the search begins or the plot is drawn after the last trial."""
    try:
        if cfg.search == "optuna":
            require("optuna", "search: optuna")
        require("matplotlib", "sweep.png")
        if cfg.mode == "full" and uses_backbone(base):  # fast trials reuse a frozen text table
            require_quantization(base.backbone.precision)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def _search_alg(cfg: SweepConfig):
    if cfg.search == "optuna":
        require("optuna", "search: optuna")  # Ray's OptunaSearch would only fail an assertion
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        return ConcurrencyLimiter(OptunaSearch(metric=METRIC, mode="max", seed=cfg.seed),
                                  max_concurrent=cfg.max_concurrent_trials)
    from ray.tune.search import BasicVariantGenerator

    # Random/grid: every trial is created up front (PENDING), so an interrupted sweep's saved state lists
    # all of them and a restore runs exactly those that did not finish (a lazily-limited generator does not
    # resume its remaining samples). Concurrency is then bounded by cpus_per_trial / gpus_per_trial.
    return BasicVariantGenerator(max_concurrent=0, random_state=cfg.seed)


def _scheduler(cfg: SweepConfig, max_t: int):
    if cfg.scheduler.type == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="epoch", max_t=max_t, grace_period=min(cfg.scheduler.grace_period, max_t),
                         reduction_factor=cfg.scheduler.reduction_factor)


def _tracking_callbacks(cfg: SweepConfig, sweep_dir: Path) -> list:
    """Ray Tune's MLflow logger: one MLflow run per trial, all under the sweep's experiment."""
    target = prepare_experiment(cfg.tracking, sweep_dir, experiment=cfg.name)
    if target is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    uri, experiment = target
    return [MLflowLoggerCallback(tracking_uri=uri, experiment_name=experiment, save_artifact=False,
                                 tags={"crossrec.kind": "sweep-trial", "crossrec.sweep": cfg.name})]


def sweep_dirs(cfg: SweepConfig) -> tuple[str, Path, str | None]:
    """(Ray Tune storage_path, local sweep directory for this process's files, the sweep's URI or None).

    A local ``storage_path`` holds everything. With a URI, Ray Tune keeps the trials there itself and
    results.csv, best_config.yaml and sweep.png are written to a local staging directory
    (``$CROSSREC_CACHE/sweeps``) and then published beside them."""
    if not is_uri(cfg.storage_path):
        storage = str(Path(cfg.storage_path).resolve())
        return storage, Path(storage) / cfg.name, None
    remote = join(cfg.storage_path, cfg.name)
    local = staging_dir("sweeps", cfg.name, remote)
    local.mkdir(parents=True, exist_ok=True)
    return cfg.storage_path, local, remote


def run_sweep(cfg: SweepConfig, address: str | None = None, callbacks: list | None = None,
              stop: Any = None) -> SweepResult:
    """Run ``cfg`` (or resume it when its directory holds an interrupted sweep). ``stop``: a Tune stopper."""
    t0 = time.perf_counter()
    source = cfg.source
    base = cfg.base_train_config(source).resolve_paths(Path.cwd())
    space = build_search_space(cfg, base, source=source)
    check_sweep_extras(cfg, base, source)
    check_dataset_targets(base.dataset, [cfg.target], source, field="target")  # before Ray starts
    if cfg.bundle:
        check_bundle_backbone(cfg.bundle, base, source)
    storage, sweep_dir, remote = sweep_dirs(cfg)
    ensure_ray(address)
    base_dict = base.model_dump(mode="json")
    resources = {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial}
    if cfg.mode == "fast":
        trainable = tune.with_parameters(fast_trial, base=base_dict, target=cfg.target, text_table=_text_table(cfg, base))
    else:
        trainable = tune.with_parameters(full_trial, base=base_dict, target=cfg.target,
                                         storage=join(remote, "trials") if remote else str(sweep_dir / "trials"))
    trainable = tune.with_resources(trainable, resources)
    experiment = remote or str(sweep_dir)  # where Ray Tune keeps the trials' state
    resumed = tune.Tuner.can_restore(experiment)
    if resumed:
        print(f"resuming sweep {experiment} (finished trials are kept)", flush=True)
        tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
    else:
        callbacks = [*(callbacks or []), *_tracking_callbacks(cfg, sweep_dir)]
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(metric=METRIC, mode="max", num_samples=cfg.num_samples,
                                        search_alg=_search_alg(cfg), scheduler=_scheduler(cfg, base.optim.epochs),
                                        max_concurrent_trials=cfg.max_concurrent_trials if cfg.search == "optuna" else None),
            run_config=tune.RunConfig(name=cfg.name, storage_path=storage, callbacks=callbacks, stop=stop, verbose=1),
        )
    grid = tuner.fit()
    df = grid.get_dataframe(filter_metric=METRIC, filter_mode="max")
    table = results_table(df, list(cfg.space))
    table.to_csv(sweep_dir / "results.csv", index=False)
    best = grid.get_best_result(metric=METRIC, mode="max")
    best_params = {k: best.config[k] for k in cfg.space}
    best_path = sweep_dir / "best_config.yaml"
    write_best_config(base, best_params, best_path, run_name=f"{base.run_name}-tuned")
    plot(table, sweep_dir / "sweep.png")
    if remote:  # the sweep's own files, beside the trials Ray Tune already keeps there
        for name in ("results.csv", "best_config.yaml", "sweep.png"):
            write_bytes(join(remote, name), (sweep_dir / name).read_bytes())
        print(f"published results.csv, best_config.yaml and sweep.png to {remote}", flush=True)
    seconds = time.perf_counter() - t0
    print(table.head(10).to_string(index=False))
    print(f"{len(table)} trials in {seconds:.0f}s; best valid NDCG@10 {table[METRIC].iloc[0]:.4f}; "
          f"best config: {best_path}", flush=True)
    return SweepResult(sweep_dir, table, best_params, best_path, seconds, resumed)
