"""Fast screening of model variants on the valid split (``bench/screen.py``).

The quality benchmark confirms a method at its full budget on 3 seeds; screening decides which candidates
deserve that. A screen reads one target of a quality config, keeps a fixed random sample of valid users
(the test examples are dropped, so a screen can never look at test), applies ``base_overrides`` to every
crossrec variant (by default a frozen backbone, i.e. cached text embeddings, since the adapter is rarely what
is being screened) and fits each method for a short epoch budget. Each result is appended, with its valid
NDCG@10 curve and its compute, to ``<work_dir>/<name>.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossrec.benchmarks.quality_config import QualityConfig, ScreenConfig
from crossrec.benchmarks.quality_methods import fit_method
from crossrec.benchmarks.quality_run import load_benchmark_dataset
from crossrec.data.split import TargetSplit, split_target
from crossrec.eval.runner import evaluate
from crossrec.train.config import TrainConfig


def valid_sample(split: TargetSplit, n: int | None, seed: int) -> TargetSplit:
    """``split`` with only a fixed random sample of ``n`` valid examples (no test examples at all)."""
    valid = split.role("valid")
    if n is not None and n < len(valid):
        keep = np.sort(np.random.default_rng(seed).choice(len(valid), size=n, replace=False))
        valid = valid.iloc[keep]
    return dataclasses.replace(split, examples=valid.reset_index(drop=True))


def run_screen(cfg: ScreenConfig, log: Callable[[str], None] = print,
               only: list[str] | None = None) -> list[dict[str, Any]]:
    """Fit every method (or those named in ``only``) on the valid sample; returns one row per method."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    quality = QualityConfig.from_yaml(cfg.quality_config).resolve_paths(Path.cwd())
    base = TrainConfig.from_yaml(quality.base_train_config)
    t0 = time.perf_counter()
    split = valid_sample(split_target(load_benchmark_dataset(quality), cfg.target), cfg.valid_users, cfg.sample_seed)
    log(f"[screen {cfg.name}] {cfg.target}: {len(split.examples)} valid users, data ready in "
        f"{time.perf_counter() - t0:.0f}s")
    out = Path(cfg.work_dir) / f"{cfg.name}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in cfg.methods:
        if only and spec.name not in only:
            continue
        if spec.kind == "crossrec":
            spec = spec.model_copy(update={"overrides": {**cfg.base_overrides, **spec.overrides}})
        budget = spec.budget or cfg.budget
        log(f"[screen {cfg.name}] {spec.name}: fitting ({spec.kind}, {budget.max_epochs} epochs)")
        cpu0 = time.process_time()
        fitted = fit_method(spec, split, base, cfg.seed, budget, log)
        report = evaluate(fitted.recommender, split, role="valid", max_len=fitted.max_len, progress=False)
        m = report.metrics
        row = {"screen": cfg.name, "target": cfg.target, "method": spec.name, "kind": spec.kind,
               "overrides": spec.overrides, "params": spec.params, "seed": cfg.seed,
               "valid_users": len(split.examples), "budget": budget.model_dump(),
               "fit_seconds": round(fitted.fit_seconds, 1), "cpu_seconds": round(time.process_time() - cpu0, 1),
               "valid": {s: {k: m[s][k] for k in ("ndcg@10", "recall@10", "n_users")} for s in m},
               "info": fitted.info, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        with out.open("a") as fh:
            fh.write(json.dumps(row, default=float) + "\n")
        rows.append(row)
        log(f"[screen {cfg.name}] {spec.name}: valid NDCG@10 {m['overall']['ndcg@10']:.4f} "
            f"(cold {m['cold']['ndcg@10']:.4f}, warm {m['warm']['ndcg@10']:.4f}), fit {fitted.fit_seconds:.0f}s")
    return rows
