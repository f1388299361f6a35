"""Running the quality benchmark: every method x target x seed on the same split, resumable.

Each finished (target, method, seed) is written to ``work_dir/<target>/<method>/seed<k>.json`` at once
(atomically), so an interrupted benchmark resumes where it stopped and a finished one is re-reported
without retraining. The best baseline (highest seed-0 test NDCG@10 among ``baseline: true`` methods) is then
run on every seed, like crossrec full, so the two are compared as mean ± std.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from crossrec.benchmarks.machine import machine_info
from crossrec.benchmarks.quality_config import (
    MethodConfig,
    QualityConfig,
    QualitySuiteConfig,
    load_quality_config,
)
from crossrec.benchmarks.quality_methods import fit_method
from crossrec.benchmarks.quality_report import aggregate, comparisons, write_report, write_suite_report
from crossrec.data.dataset import Dataset
from crossrec.data.split import TargetSplit, split_target
from crossrec.errors import ConfigError
from crossrec.eval.runner import evaluate
from crossrec.tracking import Tracker, flatten
from crossrec.train.config import TrainConfig
from crossrec.utils.extras import require
from crossrec.utils.io import atomic_write_text


def load_benchmark_dataset(cfg: QualityConfig) -> Dataset:
    """The canonical dataset, a raw RecBole directory imported in memory, or synthetic data."""
    if cfg.synthetic is not None:
        from crossrec.data.synthetic import generate_synthetic

        return generate_synthetic(cfg.synthetic)
    path = Path(cfg.dataset)
    if (path / "dataset.json").is_file():
        from crossrec.data.dataset import load_dataset

        return load_dataset(path)
    from crossrec.data.importers import IMPORTERS, ImportOptions

    return IMPORTERS["recbole"](path, ImportOptions(domains=cfg.domains, domain_column=cfg.domain_column,
                                                    text_fields=cfg.text_fields))


RESULT_CODE = ("data", "model", "train", "eval", "benchmarks/quality_methods.py")  # where result code may live
# A result depends on the modules its method imports (followed at module level inside RESULT_CODE), evaluation
# and method dispatch. Keying a baseline by that code alone keeps its rows cached while the crossrec model
# changes, which is what most quality experiments change; keying crossrec by the closure of its training entry
# points keeps its rows cached while serving-only model modules (text embedding at request time) are added.
BASELINE_ENTRIES = {
    "mostpop": ("crossrec.eval.baselines.mostpop",),
    "sasrec": ("crossrec.eval.baselines.sasrec",),
    "zero_shot": ("crossrec.eval.baselines.zero_shot", "crossrec.model.backbone", "crossrec.model.item_encoder",
                  "crossrec.model.embedding_cache"),
}
CROSSREC_ENTRIES = ("crossrec.train.fit", "crossrec.train.engine", "crossrec.eval.model_scorer",
                    "crossrec.model.factory", "crossrec.model.text_side", "crossrec.model.backbone",
                    "crossrec.model.adapters", "crossrec.model.item_encoder", "crossrec.model.embedding_cache")
COMMON_ENTRIES = ("crossrec.eval.runner", "crossrec.benchmarks.quality_methods", "crossrec.data.importers")  # + how data is read


@functools.cache
def code_version(kind: str = "crossrec") -> str:
    """12 hex digits of a hash over the package source that shapes a result of method ``kind``: the modules
    its entry points import (:data:`CROSSREC_ENTRIES` for crossrec, :data:`BASELINE_ENTRIES` for a baseline,
    plus :data:`COMMON_ENTRIES`). Edits elsewhere (serving, docs, the report) keep cached rows valid. Computed
    once per process: a long benchmark run keys every row by the code it started with."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(_module_closure(root, BASELINE_ENTRIES.get(kind, CROSSREC_ENTRIES) + COMMON_ENTRIES))
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:12]


def _module_closure(root: Path, modules: tuple[str, ...]) -> set[Path]:
    """Source files of ``modules`` and of every crossrec module they import at module level, within
    :data:`RESULT_CODE` (function-level imports are the dispatch to other methods and are not followed)."""
    import ast

    allowed = tuple(root / part for part in RESULT_CODE)
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        parts = todo.pop().split(".")[1:]
        path = root.joinpath(*parts).with_suffix(".py")
        if not path.is_file():
            path = root.joinpath(*parts, "__init__.py")
        if path in seen or not path.is_file() or not any(path == a or a in path.parents for a in allowed):
            continue
        seen.add(path)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("crossrec."):
                todo.append(node.module)
                todo += [f"{node.module}.{a.name}" for a in node.names]  # "from crossrec.data import split"
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("crossrec.")]
    return seen


def method_key(cfg: QualityConfig, spec: MethodConfig, base: TrainConfig, code: str | None = None) -> str:
    """12 hex digits naming everything a (target, method) result depends on: the dataset and how it is
    imported, the method's kind, parameters and budget, for crossrec the resolved training config (seed
    aside), and :func:`code_version`. Rows cached under another key are never read back."""
    from crossrec.benchmarks.quality_methods import crossrec_config

    payload = {"dataset": cfg.dataset, "synthetic": cfg.synthetic.model_dump(mode="json") if cfg.synthetic else None,
               "domains": cfg.domains, "domain_column": cfg.domain_column, "text_fields": cfg.text_fields,
               "kind": spec.kind, "params": spec.params, "budget": (spec.budget or cfg.budget).model_dump(mode="json"),
               "torch_threads": cfg.torch_threads, "code": code or code_version(spec.kind)}
    if cfg.item_cold_start is not None:  # only then: keys of plain-split configs stay as they were
        payload["item_cold_start"] = cfg.item_cold_start.model_dump(mode="json")
    if spec.kind in ("crossrec", "zero_shot"):
        resolved = crossrec_config(base, spec, 0).model_dump(mode="json")
        payload["train"] = {k: resolved[k] for k in ("backbone", "lora", "model", "optim", "eval")}
    blob = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def result_path(cfg: QualityConfig, target: str, method: str, seed: int, key: str) -> Path:
    return Path(cfg.work_dir) / target / method / f"seed{seed}-{key}.json"


def run_one(cfg: QualityConfig, split: TargetSplit, base: TrainConfig, spec: MethodConfig, seed: int,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Fit and evaluate one (method, seed) on ``split``; cached in ``work_dir``."""
    key = method_key(cfg, spec, base)
    path = result_path(cfg, split.target, spec.name, seed, key)
    if path.is_file():
        row = json.loads(path.read_text())
        log(f"[{split.target}] {spec.name} seed {seed}: cached (test NDCG@10 {row['test']['overall']['ndcg@10']:.4f})")
        return row
    log(f"[{split.target}] {spec.name} seed {seed}: fitting ({spec.kind})")
    fitted = fit_method(spec, split, base, seed, spec.budget or cfg.budget, log)
    t0 = time.perf_counter()
    valid = evaluate(fitted.recommender, split, role="valid", max_len=fitted.max_len)
    test = evaluate(fitted.recommender, split, role="test", max_len=fitted.max_len)
    row = {"target": split.target, "method": spec.name, "kind": spec.kind, "baseline": spec.baseline,
           "seed": seed, "cache_key": key, "code_version": code_version(spec.kind), "fit_seconds": fitted.fit_seconds, "eval_seconds": time.perf_counter() - t0,
           "info": fitted.info, "valid": valid.metrics, "test": test.metrics,
           "exposure": {"valid": valid.exposure, "test": test.exposure}}
    atomic_write_text(path, json.dumps(row, indent=2, default=float) + "\n")
    track_row(cfg, spec, row)
    o = test.metrics
    new = f", {o['new_items']['ndcg@10']:.4f} new items" if o["new_items"]["n_users"] else ""
    log(f"[{split.target}] {spec.name} seed {seed}: test NDCG@10 {o['overall']['ndcg@10']:.4f} overall, "
        f"{o['cold']['ndcg@10']:.4f} cold, {o['warm']['ndcg@10']:.4f} warm{new} ({fitted.fit_seconds:.0f}s fit)")
    return row


def track_row(cfg: QualityConfig, spec: MethodConfig, row: dict[str, Any]) -> None:
    """One MLflow run per (target, method, seed): the method's settings, valid/test metrics per slice, compute,
    and the valid NDCG@10 curve (one step per epoch)."""
    tracker = Tracker.start(
        cfg.tracking, cfg.work_dir, experiment=cfg.name, run_name=f"{row['target']}/{row['method']}/seed{row['seed']}",
        params={"target": row["target"], "method": row["method"], "kind": row["kind"], "seed": row["seed"],
                "baseline": row["baseline"], "cache_key": row["cache_key"], "code_version": row["code_version"],
                **flatten(spec.overrides, "overrides."), **flatten(spec.params, "params.")},
        tags={"crossrec.kind": "quality", "crossrec.benchmark": cfg.name})
    metrics = {f"{role}_{sl}_{k}": v for role in ("valid", "test") for sl, m in row[role].items() for k, v in m.items()
               if k != "n_users"}
    tracker.log_metrics({**metrics, "fit_seconds": row["fit_seconds"], "eval_seconds": row["eval_seconds"]})
    for epoch, value in enumerate(row["info"].get("valid_ndcg_curve", []), start=1):
        tracker.log_metrics({"valid_ndcg_at_10_by_epoch": value}, step=epoch)
    tracker.finish()


def run_quality(cfg: QualityConfig, methods: list[str] | None = None,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run the benchmark (optionally only ``methods``); returns every result row."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    specs = [m for m in cfg.methods if methods is None or m.name in methods]
    if not specs:
        raise ValueError(f"no method of the config is named in {methods}")
    base = TrainConfig.from_yaml(cfg.base_train_config)
    dataset = load_benchmark_dataset(cfg)
    rows: list[dict[str, Any]] = []
    for target in cfg.targets:
        rows += run_target(cfg, benchmark_split(cfg, dataset, target), base, specs, log)
    return rows


def benchmark_split(cfg: QualityConfig, dataset: Dataset, target: str) -> TargetSplit:
    """The split every method of ``cfg`` sees for ``target``: BENCHMARK.md's, with ``cfg.item_cold_start``'s
    share of the target's items hidden from training when set."""
    split = split_target(dataset, target)
    if cfg.item_cold_start is None:
        return split
    from crossrec.data.cold_start import hide_target_items

    return hide_target_items(split, cfg.item_cold_start.share, cfg.item_cold_start.seed)


def run_target(cfg: QualityConfig, split: TargetSplit, base: TrainConfig, specs: list[MethodConfig],
               log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Baselines first (then the best one on every seed), then crossrec methods: multi-seed ones first,
    so an interrupted or time-boxed run has the headline comparison before the ablations."""
    first = cfg.seeds[0]
    baselines = [m for m in specs if m.kind != "crossrec"]
    rows = [run_one(cfg, split, base, m, s, log) for m in baselines for s in (cfg.seeds if m.all_seeds else [first])]
    best = best_baseline(rows, split.target)
    spec = next((m for m in baselines if m.name == best), None)
    if cfg.best_baseline_all_seeds and spec is not None and not spec.all_seeds:
        log(f"[{split.target}] best baseline is {best}: running it on every seed")
        rows += [run_one(cfg, split, base, spec, s, log) for s in cfg.seeds[1:]]
    crossrec = sorted((m for m in specs if m.kind == "crossrec"), key=lambda m: not m.all_seeds)
    rows += [run_one(cfg, split, base, m, s, log) for m in crossrec for s in (cfg.seeds if m.all_seeds else [first])]
    return rows


def best_baseline(rows: list[dict[str, Any]], target: str) -> str | None:
    """The baseline with the highest first-seed *valid* NDCG@10 overall on ``target`` (None if no baseline ran)."""
    first = {}
    for r in rows:
        if r["target"] == target and r["baseline"] and r["method"] not in first:
            first[r["method"]] = r["valid"]["overall"]["ndcg@10"]
    return max(first, key=first.get) if first else None


def cached_rows(cfg: QualityConfig) -> list[dict[str, Any]]:
    """Every cached result of the config's targets and methods."""
    rows = []
    base = TrainConfig.from_yaml(cfg.base_train_config)
    for target in cfg.targets:
        for spec in cfg.methods:
            key = method_key(cfg, spec, base)
            for seed in cfg.seeds:
                path = result_path(cfg, target, spec.name, seed, key)
                if path.is_file():
                    rows.append(json.loads(path.read_text()))
    return rows


def merge_with_cache(rows: list[dict[str, Any]], cfg: QualityConfig) -> list[dict[str, Any]]:
    """``rows`` plus cached results of methods not run this time (``--methods`` subsets)."""
    seen = {(r["target"], r["method"], r["seed"]) for r in rows}
    return rows + [r for r in cached_rows(cfg) if (r["target"], r["method"], r["seed"]) not in seen]


def bench_command(config: str, methods: list[str] | None = None, report_only: bool = False,
                  **overrides: Any) -> str:
    """The ``python bench/quality.py`` command line of these options (the page names what reproduces it)."""
    args = ["--config", config]
    for name, value in {**overrides, "methods": methods}.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    args += ["--report-only"] if report_only else []
    return "python bench/quality.py " + " ".join(shlex.quote(a) for a in args)


def run_suite_report(suite_path: str, command: str | None = None, log: Callable[[str], None] = print) -> int:
    """``bench/quality.py --suite``: one page over the suite's quality configs, from their cached results
    (each config runs on its own: ``bench/quality.py --config``). Configs without any cached result are named
    in the log and left out; none at all is a one-line error."""
    suite = QualitySuiteConfig.from_yaml(suite_path)
    require("matplotlib", "the quality plot")
    parts = []
    for path in suite.configs:
        cfg = load_quality_config(path)
        rows = cached_rows(cfg)
        if rows:
            parts.append((cfg, rows))
        else:
            log(f"{path}: no cached result for code version {code_version()} (left out of the page)")
    if not parts:
        raise ConfigError(f"{suite_path}: none of {suite.configs} has a cached result: run them first")
    meta = {"command": command or f"python bench/quality.py --suite {suite_path}", "suite": suite_path,
            "configs": suite.configs, "machine": machine_info()}
    paths = write_suite_report(parts, suite.name, str(Path(suite.out_dir).resolve()), meta,
                               notes_file=suite.notes_file)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def run_benchmark(config: str, methods: list[str] | None = None, report_only: bool = False,
                  command: str | None = None, log: Callable[[str], None] = print, **overrides: Any) -> int:
    """``bench/quality.py``: run the benchmark of the YAML ``config`` (with :func:`load_quality_config`'s
    ``overrides``; only ``methods`` if given, the others reported from the cache), or with ``report_only``
    read every result from the cache; write the page, JSON and plot and log each crossrec / best-baseline
    ratio. ``command`` is the command line the page shows (default: :func:`bench_command`). Returns the
    exit status (0; bad configs raise :class:`crossrec.errors.ConfigError`)."""
    command = command or bench_command(config, methods, report_only, **overrides)
    cfg = load_quality_config(config, **overrides)
    require("matplotlib", "the quality plot")  # before hours of fits, not after them
    t0 = time.perf_counter()
    rows = cached_rows(cfg) if report_only else merge_with_cache(run_quality(cfg, methods, log), cfg)
    if not rows:
        raise ConfigError(f"{config}: no cached result under {cfg.work_dir} for this config and code version "
                          f"{code_version()}: run without --report-only first (results are keyed by the resolved "
                          "config and the code of data/model/train/eval, so a code change starts a fresh cache)")
    meta = {"command": command, "config": config, "machine": machine_info(),
            "wall_minutes": (time.perf_counter() - t0) / 60,
            "dataset": cfg.dataset or f"synthetic {cfg.synthetic.model_dump_json() if cfg.synthetic else ''}"}
    paths = write_report(rows, cfg, meta)
    for target, c in comparisons(aggregate(rows), cfg).items():
        ratios = ({cfg.primary: c["ratio"]} if "ratio" in c else {}) | c.get("other_crossrec_ratios", {})
        for name, r in ratios.items():
            log(f"{target}: {name} / {c['best_baseline']} = {r['overall']:.3f}x overall, {r['cold']:.3f}x cold")
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
