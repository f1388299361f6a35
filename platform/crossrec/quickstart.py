"""``crossrec quickstart``: the whole pipeline on generated data and an embedded local Ray.

Stages: synthetic dataset → split → MostPop baseline → Ray Train (1 small worker) → Ray Tune (a small
sweep of fusion heads) → evaluation table → Ray Serve (a few live requests). Each stage prints what it did;
everything lands under ``--out`` (default ``outputs/quickstart``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crossrec.data.dataset import load_dataset, save_dataset
from crossrec.data.split import split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
from crossrec.eval.baselines.mostpop import MostPop
from crossrec.eval.metrics import SELECTION_METRIC, SUMMARY_METRICS
from crossrec.eval.runner import EvalReport, evaluate
from crossrec.train.config import TrainConfig


@dataclass
class QuickstartResult:
    out: Path
    reports: dict[str, EvalReport] = field(default_factory=dict)
    bundle: Path | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def quickstart_train_config(dataset: Path, runs: Path, target: str, epochs: int | None = None) -> TrainConfig:
    """The packaged small training config with this quickstart's paths filled in."""
    text = resources.files("crossrec.configs").joinpath("quickstart_train.yaml").read_text()
    raw = yaml.safe_load(text)
    raw.update(dataset=str(dataset), storage_path=str(runs), targets=[target])
    if epochs is not None:
        raw["optim"]["epochs"] = epochs
    return TrainConfig.from_dict(raw, source="crossrec/configs/quickstart_train.yaml")


class _Stage:
    def __init__(self, result: QuickstartResult, name: str) -> None:
        self.result, self.name = result, name

    def __enter__(self) -> _Stage:
        print(f"\n=== [{len(self.result.stage_seconds) + 1}] {self.name} ===", flush=True)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result.stage_seconds[self.name] = time.perf_counter() - self.t0
        if exc[0] is None:
            print(f"--- {self.name}: {self.result.stage_seconds[self.name]:.1f}s", flush=True)


def run_quickstart(out: Path = Path("outputs/quickstart"), target: str = "movies", users: int = 400,
                   epochs: int | None = None, tune: bool = True, serve: bool = True, seed: int = 0) -> QuickstartResult:
    """Run every stage; returns the reports and paths. Safe to re-run (the training run resumes)."""
    out = Path(out).resolve()
    result = QuickstartResult(out=out)
    data_dir = out / "data"
    with _Stage(result, "data: generate a synthetic multi-domain dataset"):
        cfg = SyntheticConfig(n_users=users, seed=seed)
        if target not in cfg.domains:
            from crossrec.errors import ConfigError

            raise ConfigError(f"--target must be one of the synthetic domains {cfg.domains}, got {target!r}")
        save_dataset(generate_synthetic(cfg), data_dir)
        dataset = load_dataset(data_dir)
        c = dataset.counts()
        print(f"{c['users']} users, {c['items']} items, {c['interactions']} interactions, domains {dataset.domains}")
    with _Stage(result, f"split: temporal leave-one-out in {target!r}"):
        split = split_target(dataset, target)
        print(split.summary())
    with _Stage(result, "baseline: MostPop"):
        mostpop = MostPop()
        mostpop.fit(split)
        result.reports["MostPop"] = evaluate(mostpop, split, role="test", progress=False)
    with _Stage(result, "train: Ray Train, 1 worker, LoRA adapter + heads"):
        from crossrec.train.run import run_training

        train = run_training(quickstart_train_config(data_dir, out / "runs", target, epochs))
        result.bundle = train.bundle_dir
    with _Stage(result, "evaluate: the trained bundle on the test split"):
        from crossrec.eval.bundle_eval import evaluate_bundle

        result.reports["crossrec"] = evaluate_bundle(result.bundle, data_dir, target,
                                                     predictions_out=out / "predictions.jsonl")
    if tune:
        _tune_stage(result, data_dir, target)
    if serve:
        _serve_stage(result, target)
    _print_summary(result)
    return result


def _tune_stage(result: QuickstartResult, data_dir: Path, target: str) -> None:
    with _Stage(result, "tune: Ray Tune sweep of fusion heads on cached embeddings"):
        result.extras["tune"] = quickstart_sweep(result.bundle, data_dir, target, result.out / "tune")


def quickstart_sweep(bundle: Path, data_dir: Path, target: str, out: Path) -> dict:
    """The small sweep of the quickstart: 4 fast trials over fusion variants on the bundle's embeddings."""
    from crossrec.tune.config import SweepConfig
    from crossrec.tune.run import run_sweep

    base = quickstart_train_config(data_dir, out / "runs", target, epochs=3)
    cfg = SweepConfig(
        name="quickstart-sweep", target=target, base=base.model_dump(mode="json"), bundle=str(bundle),
        space={"model.fusion.variant": {"grid": ["gate", "attention", "sum"]},
               "optim.lr": {"loguniform": [5e-4, 5e-3]}},
        num_samples=1, search="random", scheduler={"type": "fifo"}, storage_path=str(out), seed=0,
    )
    result = run_sweep(cfg)
    return {"best_params": result.best_params, "best_config": str(result.best_config_path),
            "trials": len(result.table), "seconds": result.seconds}


def _serve_stage(result: QuickstartResult, target: str) -> None:
    from crossrec.serve.app import serve_smoke_test

    with _Stage(result, "serve: Ray Serve graph, a few live requests"):
        result.extras["serve"] = serve_smoke_test(result.bundle, target)


def _print_summary(result: QuickstartResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quickstart: test metrics (full ranking over the target catalogue)")
    for col in ("method", "slice", "users", *(m.label for m in SUMMARY_METRICS)):
        table.add_column(col)
    for name, report in result.reports.items():
        for slice_name, m in report.metrics.items():
            table.add_row(name, slice_name, str(m["n_users"]), *(f"{m[metric.key]:.4f}" for metric in SUMMARY_METRICS))
    Console().print(table)
    if {"crossrec", "MostPop"} <= result.reports.keys():
        key = SELECTION_METRIC.key
        ours = result.reports["crossrec"].metrics["overall"][key]
        pop = result.reports["MostPop"].metrics["overall"][key]
        verdict = "beats" if ours > pop else "does NOT beat"
        print(f"crossrec {verdict} MostPop on {SELECTION_METRIC.label}: {ours:.4f} vs {pop:.4f} ({ours / max(pop, 1e-9):.2f}x)")
    print(f"outputs: {result.out}  (bundle: {result.bundle})")
