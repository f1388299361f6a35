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
    try:
        from crossrec.tune.quickstart import quickstart_sweep
    except ModuleNotFoundError:
        return
    with _Stage(result, "tune: Ray Tune sweep of fusion heads on cached embeddings"):
        result.extras["tune"] = quickstart_sweep(result.bundle, data_dir, target, result.out / "tune")


def _serve_stage(result: QuickstartResult, target: str) -> None:
    try:
        from crossrec.serve.app import serve_smoke_test
    except ModuleNotFoundError:
        return
    with _Stage(result, "serve: Ray Serve graph, a few live requests"):
        result.extras["serve"] = serve_smoke_test(result.bundle, target)


def _print_summary(result: QuickstartResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quickstart: test metrics (full ranking over the target catalogue)")
    for col in ("method", "slice", "users", "NDCG@10", "Recall@10", "MRR@10"):
        table.add_column(col)
    for name, report in result.reports.items():
        for slice_name, m in report.metrics.items():
            table.add_row(name, slice_name, str(m["n_users"]), f"{m['ndcg@10']:.4f}", f"{m['recall@10']:.4f}",
                          f"{m['mrr@10']:.4f}")
    Console().print(table)
    if {"crossrec", "MostPop"} <= result.reports.keys():
        ours = result.reports["crossrec"].metrics["overall"]["ndcg@10"]
        pop = result.reports["MostPop"].metrics["overall"]["ndcg@10"]
        verdict = "beats" if ours > pop else "does NOT beat"
        print(f"crossrec {verdict} MostPop on NDCG@10: {ours:.4f} vs {pop:.4f} ({ours / max(pop, 1e-9):.2f}x)")
    print(f"outputs: {result.out}  (bundle: {result.bundle})")
