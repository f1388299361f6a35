"""Explanation benchmark (``bench/explanations.py``): deletion test and real examples per dataset.

Each run takes a target of a quality config, trains that config's primary crossrec method (or ``method``)
with the given budget, then (1) measures the faithfulness of leave-one-out explanations by deletion
(:mod:`crossrec.eval.explanations`) on sampled test examples, (2) picks a few examples with titles, and
(3) times explaining a request against not explaining it. Each run's result is cached in
``<work_dir>/<run>.json`` (with the trained heads beside it), keyed like the quality benchmark (resolved config
+ code version), so the page re-renders without retraining.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from crossrec.benchmarks.machine import machine_info
from crossrec.benchmarks.quality_config import BudgetConfig, MethodConfig, QualityConfig, load_quality_config
from crossrec.benchmarks.quality_methods import crossrec_config, fit_method
from crossrec.benchmarks.quality_run import code_version, load_benchmark_dataset, method_key
from crossrec.config import StrictModel
from crossrec.data.split import TargetSplit, split_target
from crossrec.errors import ConfigError
from crossrec.eval.explanations import DeletionRow, deletion_test, reason_records, summarize_deletions
from crossrec.eval.runner import evaluate
from crossrec.model.explain import explain_items
from crossrec.model.recommender import CrossRecModel
from crossrec.train.config import TrainConfig
from crossrec.utils.io import atomic_write_text


class ExplanationRunConfig(StrictModel):
    """One dataset: a target of a quality benchmark config."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    quality_config: str
    target: str
    method: str | None = Field(None, description="crossrec method of the quality config (default: its primary).")
    budget: BudgetConfig | None = Field(None, description="Training budget (default: the quality config's).")


class ExplanationsConfig(StrictModel):
    name: str = Field("explanations", min_length=1)
    runs: list[ExplanationRunConfig] = Field(..., min_length=1)
    seed: int = 0
    users: int | None = Field(2000, gt=0, description="Sampled test examples of the deletion test.")
    n_remove: int = Field(3, ge=1, le=20, description="History items removed: the top explaining ones vs random.")
    max_history: int = Field(50, ge=1, le=2048, description="Latest history positions considered per user.")
    examples: int = Field(3, ge=0, le=20, description="Real examples shown per run and slice.")
    latency_requests: int = Field(200, ge=1, description="Requests timed with and without explanations.")
    torch_threads: int | None = Field(1, gt=0)
    serving_json: str | None = Field("docs/results/serving.json", description="Serving benchmark result "
                                     "(bench/serve_load.py on a run's bundle) whose explain: true/false rows the page shows.")
    work_dir: str = "runs/explanations"
    out_dir: str = "docs/results"


def run_explanations(cfg: ExplanationsConfig, only: list[str] | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Run (or read from the cache) every run named in ``only`` (default: all); returns every cached result."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    results = []
    for run in cfg.runs:
        qcfg, spec, base = _spec_and_base(run)
        path = _result_path(cfg, run, qcfg, spec, base)
        if path.is_file():
            results.append(json.loads(path.read_text()))
        elif only is None or run.name in only:
            results.append(_run_one(cfg, run, path, qcfg, spec, base, log))
    return results


def _spec_and_base(run: ExplanationRunConfig) -> tuple[QualityConfig, MethodConfig, TrainConfig]:
    """The run's quality config, its crossrec method (``run.method`` or the primary) and base training config."""
    qcfg = load_quality_config(run.quality_config)
    name = run.method or qcfg.primary
    spec = next((m for m in qcfg.methods if m.name == name and m.kind == "crossrec"), None)
    if spec is None:
        crossrec = [m.name for m in qcfg.methods if m.kind == "crossrec"]
        raise ConfigError(f"run {run.name}: method {name!r} is not a crossrec method of {run.quality_config} "
                          f"(has {crossrec})")
    return qcfg, spec, TrainConfig.from_yaml(qcfg.base_train_config)


def _result_path(cfg: ExplanationsConfig, run: ExplanationRunConfig, qcfg: QualityConfig, spec: MethodConfig,
                 base: TrainConfig) -> Path:
    extra = json.dumps([run.budget.model_dump() if run.budget else None, cfg.seed, cfg.users, cfg.n_remove,
                        cfg.max_history], sort_keys=True)
    key = hashlib.sha256((method_key(qcfg, spec, base) + extra).encode()).hexdigest()[:12]
    return Path(cfg.work_dir) / f"{run.name}-{key}.json"


def _run_one(cfg: ExplanationsConfig, run: ExplanationRunConfig, path: Path, qcfg: QualityConfig,
             spec: MethodConfig, base: TrainConfig, log: Callable[[str], None]) -> dict:
    split = split_target(load_benchmark_dataset(qcfg), run.target)
    log(f"[{run.name}] training {spec.name} on {run.target}")
    fitted = fit_method(spec, split, base, cfg.seed, run.budget or qcfg.budget, log)
    model: CrossRecModel = fitted.recommender.model.eval()
    _save_bundle(path.with_suffix(".bundle"), run, model, split, crossrec_config(base, spec, cfg.seed))
    test = evaluate(fitted.recommender, split, role="test", max_len=fitted.max_len, progress=False).metrics
    log(f"[{run.name}] test NDCG@10 {test['overall']['ndcg@10']:.4f}; deletion test on {cfg.users} examples")
    t0 = time.perf_counter()
    rows = deletion_test(model, split, n_remove=cfg.n_remove, users=cfg.users, seed=cfg.seed,
                         max_history=cfg.max_history)
    deletion_seconds = time.perf_counter() - t0
    result = {"run": run.name, "dataset": qcfg.dataset, "target": run.target, "method": spec.name,
              "code_version": code_version(spec.kind), "fit_seconds": fitted.fit_seconds, "fit": fitted.info,
              "test": test, "deletion": summarize_deletions(rows), "deletion_seconds": deletion_seconds,
              "examples": _examples(model, split, rows, cfg), "latency": _latency(model, split, cfg),
              "machine": machine_info()}
    atomic_write_text(path, json.dumps(result, indent=2, default=float) + "\n")
    return result


def _save_bundle(directory: Path, run: ExplanationRunConfig, model: CrossRecModel, split: TargetSplit,
                 train: TrainConfig) -> Path:
    """The trained model as a servable bundle (for the serving benchmark's explain: true vs false)."""
    from crossrec.eval.model_scorer import training_popularity
    from crossrec.model.bundle import save_bundle

    popularity = {split.target: training_popularity(split, model.catalogue.cpu().numpy())}
    meta = {"run_name": run.name, "model": train.model.model_dump(mode="json")}
    return save_bundle(directory, split.item_index, {split.target: model}, popularity, meta, None)


def _examples(model: CrossRecModel, split: TargetSplit, rows: list[DeletionRow], cfg: ExplanationsConfig) -> list[dict]:
    """A few deletion-test examples per slice with titles: the recommendation and what drove it."""
    index = split.item_index
    out = []
    for name in ("cold", "warm"):
        for r in [r for r in rows if r.slice == name][: cfg.examples]:
            out.append({"slice": name, "user_id": r.user_id, "recommended": str(index.texts[r.item]),
                        "rank_without_explained": r.rank_without_explained,
                        "rank_without_random": r.rank_without_random,
                        "because": reason_records(index, list(zip(r.explained, r.explained_weights, strict=True)),
                                                  digits=4)})
    return out


@torch.no_grad()
def _latency(model: CrossRecModel, split: TargetSplit, cfg: ExplanationsConfig, k: int = 10, n: int = 3) -> dict[str, Any]:
    """Median / p95 ms of one request in-process (query + top-k) without and with explaining its k items."""
    rows = split.role("test").iloc[: cfg.latency_requests]
    seq, catalogue = split.sequences, model.catalogue_vectors()
    plain, explained = [], []
    for example in rows.itertuples(index=False):
        start = seq.offsets[example.user_row]
        items = seq.items[start : start + example.history_len]
        domains = seq.domains[start : start + example.history_len]
        if not bool(model.usable_rows(torch.as_tensor(items)[None], torch.as_tensor(domains)[None])):
            continue
        window = model.history_window or len(items)
        t0 = time.perf_counter()
        q = model.user_vectors(torch.as_tensor(items[-window:])[None], torch.as_tensor(domains[-window:])[None])
        top = torch.topk(model.scores(q, catalogue)[0], k).indices
        t1 = time.perf_counter()
        explain_items(model, items, domains, catalogue[top], n, cfg.max_history)
        t2 = time.perf_counter()
        plain.append(t1 - t0)
        explained.append(t2 - t0)
    p = np.array(plain) * 1000
    e = np.array(explained) * 1000
    return {"requests": len(p), "k": k, "n": n, "p50_ms": float(np.median(p)), "p95_ms": float(np.percentile(p, 95)),
            "p50_ms_explain": float(np.median(e)), "p95_ms_explain": float(np.percentile(e, 95)),
            "ratio_p50": float(np.median(e) / max(np.median(p), 1e-9))}


def write_page(results: list[dict], cfg: ExplanationsConfig, command: str) -> dict[str, Path]:
    """``<out_dir>/<name>.{md,json}`` from the runs' results."""
    out = Path(cfg.out_dir)
    data = {"command": command, "config": cfg.model_dump(mode="json"), "runs": results}
    paths = {"json": out / f"{cfg.name}.json", "md": out / f"{cfg.name}.md"}
    atomic_write_text(paths["json"], json.dumps(data, indent=2, default=float) + "\n")
    atomic_write_text(paths["md"], render_page(results, cfg, command))
    return paths


def _serving_lines(cfg: ExplanationsConfig) -> list[str]:
    """The serving benchmark's explain: true vs false rows, when its result file exists."""
    path = Path(cfg.serving_json) if cfg.serving_json else None
    if path is None or not path.is_file():
        return []
    data = json.loads(path.read_text())
    rows = {(r["layout"], r["mode"], r["clients"]): r for r in data["results"]}
    lines = [f"Cost through the Serve graph (`{data.get('command', 'python bench/serve_load.py')}` on "
             f"`{data['bundle']}`, target {data['target']}, requests with 30 random history items, top-10 with 3 "
             "reasons each, 2 CPUs):", "", "| path | explain | clients | p50 ms | p95 ms | req/s |",
             "|---|---|---:|---:|---:|---:|"]
    for layout in ("in-process", "composed"):
        for mode in ("recommend", "explain"):
            if (layout, mode, 1) in rows:
                r = rows[(layout, mode, 1)]
                lines.append(f"| {layout} | {mode == 'explain'} | 1 | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                             f"{r['rps']:.0f} |")
    lines += ["", f"`explain: true` costs {data['explain_p50_ratio_1_client']:.1f}x the p50 of a plain request at 1 client "
              f"through Serve ({data['explain_p50_ratio_in_process']:.1f}x in-process, where the model's own work is "
              "all there is); requests without it take no extra step.", ""]
    return lines


def render_page(results: list[dict], cfg: ExplanationsConfig, command: str) -> str:
    lines = ["# Explanations: which history items drove a recommendation", "",
             "Each recommended item can carry `because`: the history items (any domain) whose removal lowers its "
             "score most, with that score change as the weight (exact leave-one-out, one batched forward of the "
             "history's variants; `crossrec.model.explain`). Faithfulness is measured by deletion: for sampled "
             f"test users, the model's top-1 recommendation is explained, then its rank is measured again after "
             f"removing the {cfg.n_remove} strongest explaining items, and after removing {cfg.n_remove} random "
             "history items from the same positions (latest "
             f"{cfg.max_history}). Ranks are 0-based over the target catalogue with seen items excluded, so the "
             "rank after removal is the rank drop. Cold users have 0-4 target-domain items: their explanations "
             "are mostly source-domain items.", "", f"Reproduce: `{command}`", ""]
    lines += _serving_lines(cfg)
    for r in results:
        lines += [f"## {r['run']}: target {r['target']} ({r['method']})", "",
                  f"Model: test NDCG@10 {r['test']['overall']['ndcg@10']:.4f} (cold {r['test']['cold']['ndcg@10']:.4f}), "
                  f"trained {r['fit'].get('epochs', '?')} epochs in {r['fit_seconds'] / 60:.1f} min; deletion test "
                  f"{r['deletion_seconds']:.0f} s.", "",
                  "| slice | examples | mean rank after removing explanation | after removing random | ratio | "
                  "median (expl. / random) | explanation hurts more | left top-10 (expl. / random) | "
                  "source-domain share of explanations |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, d in r["deletion"].items():
            lines.append(f"| {name} | {d['examples']} | {d['mean_rank_drop_explained']:.1f} | "
                         f"{d['mean_rank_drop_random']:.1f} | {d['drop_ratio']:.1f}x | "
                         f"{d['median_rank_drop_explained']:.0f} / {d['median_rank_drop_random']:.0f} | "
                         f"{d['explained_hurts_more']:.0%} | {d['left_top10_explained']:.0%} / "
                         f"{d['left_top10_random']:.0%} | {d['source_share_of_explanations']:.0%} |")
        lat = r["latency"]
        lines += ["", f"Cost in-process (one core, {lat['requests']} test users, top-{lat['k']} with n={lat['n']}): "
                  f"p50 {lat['p50_ms']:.1f} ms without, {lat['p50_ms_explain']:.1f} ms with explanations "
                  f"({lat['ratio_p50']:.1f}x); p95 {lat['p95_ms']:.1f} / {lat['p95_ms_explain']:.1f} ms.", "",
                  "Examples (from the deletion test; weight = score change when the item is removed):", ""]
        for ex in r["examples"]:
            because = "; ".join(f"{b['text'][:70]} [{b['domain']}, {b['weight']:+.3f}]" for b in ex["because"])
            lines.append(f"- {ex['slice']} user {ex['user_id']}: **{ex['recommended'][:90]}** because of {because} "
                         f"(rank after removing these: {ex['rank_without_explained']}, after removing random items: "
                         f"{ex['rank_without_random']})")
        lines.append("")
    return "\n".join(lines)
