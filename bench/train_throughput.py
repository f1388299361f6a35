"""Training throughput: one epoch of adapter fine-tuning with fp32 / int8 / nf4 backbones, side by side.

    python bench/train_throughput.py [--dataset data/ml-1m] [--target family] [--precisions fp32,int8,nf4]
                                     [--steps N] [--threads 1] [--also-threads 2] [--quick]
                                     [--out docs/results/train_throughput.json]

Each precision runs :meth:`TargetDomainTrainer.train_epoch` (1 worker, no Ray) in a fresh subprocess, so its
peak RSS is its own. ``--steps N`` caps the epoch at N steps of a random subset of the windows (the end-of-epoch
re-encoding of T's catalogue still runs); the full-epoch time is then estimated as
``steps_per_epoch x steady step time + catalogue refresh``. The step is then profiled on one batch: live-item
encoding through the LoRA adapter (backbone forward+backward, with its tokens/s), heads forward+backward, and
clipping + optimiser step, each in wall and process-CPU seconds (CPU time is what the step costs without other
load; on a shared machine wall time is an upper bound). The model is the ML-1M run's (``runs/ml1m-local``):
batch 256 windows of 50 items, 24 live items, max_length 32, LoRA r=8. ``--quick`` uses synthetic data, a tiny
model and a few steps (what the test runs).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from crossrec.benchmarks.machine import current_rss_mb, peak_rss_mb
from crossrec.benchmarks.perf_goals import GOAL_NF4_SLOWDOWN
from crossrec.benchmarks.results import format_table, write_json

MARKER = "TRAIN_THROUGHPUT_RESULT "

# The ML-1M family run's model and optimiser (runs/ml1m-local/config.yaml), dataset filled in per run.
ML1M_CONFIG = {
    "run_name": "bench", "dataset": "unused", "targets": ["family"], "seed": 0,
    "backbone": {"path": None, "precision": "fp32", "max_length": 32, "device": "cpu"},
    "lora": {"r": 8, "alpha": 16, "dropout": 0.05},
    "model": {"tower": {"d_model": 64, "n_layers": 2, "n_heads": 2, "max_len": 50, "dropout": 0.2},
              "fusion": {"variant": "gate", "hidden": 64, "dropout": 0.1, "temperature": 0.1, "transfer": True}},
    "optim": {"epochs": 1, "batch_size": 256, "lr": 1e-3, "lora_lr": 2e-4, "live_items_per_step": 24, "patience": None},
}
QUICK_OVERRIDES = {
    "targets": ["movies"], "backbone": {"path": None, "precision": "fp32", "max_length": 16, "device": "cpu"},
    "lora": {"r": 2, "alpha": 4, "dropout": 0.05},
    "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 1, "max_len": 12, "dropout": 0.1},
              "fusion": {"hidden": 16}},
    "optim": {"epochs": 1, "batch_size": 32, "live_items_per_step": 4, "patience": None},
}


def train_config(precision: str, quick: bool, dataset: str):
    from crossrec.train.config import TrainConfig

    raw = copy.deepcopy(ML1M_CONFIG)
    if quick:
        raw.update(copy.deepcopy(QUICK_OVERRIDES))
    raw["backbone"]["precision"] = precision
    raw["dataset"] = dataset
    return TrainConfig(**raw)


def load_split(args: argparse.Namespace):
    if args.quick:
        from crossrec.data.split import split_target
        from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

        ds = generate_synthetic(SyntheticConfig(n_users=80, n_items=16, domains=["books", "movies"], n_topics=4,
                                                max_interactions=30, seed=1))
        return split_target(ds, "movies")
    from crossrec.train.data_access import load_split_for

    return load_split_for(args.dataset, args.target)


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (wall s, process-CPU s) of ``fn()`` over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def profile_step(trainer, repeats: int) -> dict:
    """Where one step's time goes, on one fixed batch: backbone (live items), heads, optimiser."""
    import torch

    bs = trainer.cfg.optim.batch_size
    w = trainer.windows
    idx = np.arange(min(bs, len(w)))
    items, domains = torch.as_tensor(w.items[idx]), torch.as_tensor(w.domains[idx])
    labels_np = w.labels[idx]
    labels, next_items = torch.as_tensor(labels_np), torch.as_tensor(w.next_items[idx])
    live = trainer._live_rows(labels_np)
    text, model, opt = trainer.text, trainer.model, trainer.optimizer
    out: dict = {}

    def backbone() -> None:
        text.encode_catalogue_rows(live, grad=True).sum().backward()

    if live.numel():
        texts = [text._catalogue_texts[i] for i in live.tolist()]
        mask = text.encoder.backbone.tokenize(texts)["attention_mask"]
        out["live_items"] = int(live.numel())
        out["live_tokens"] = int(mask.sum())
        out["live_tokens_padded"] = int(mask.numel())
        out["backbone_s"], out["backbone_cpu_s"] = timed(backbone, repeats)
        out["backbone_tokens_per_s"] = out["live_tokens"] / out["backbone_s"]
        out["backbone_tokens_per_cpu_s"] = out["live_tokens"] / out["backbone_cpu_s"]
        with torch.no_grad():
            live_text = text.encode_catalogue_rows(live, grad=False)
    else:
        live_text = None
    opt.zero_grad(set_to_none=True)

    def heads() -> None:
        model.train()
        model.loss(items, domains, labels, live, live_text, next_items, trainer.cfg.optim.next_item_weight,
                   trainer.cfg.optim.next_item_positions).backward()

    out["heads_s"], out["heads_cpu_s"] = timed(heads, repeats)
    if live.numel():
        backbone()  # gradients everywhere, as after a real step

    def optimiser() -> None:
        params = [p for g in opt.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, trainer.cfg.optim.grad_clip or float("inf"))
        opt.step()

    out["optimizer_s"], out["optimizer_cpu_s"] = timed(optimiser, repeats)
    opt.zero_grad(set_to_none=True)
    total = sum(out.get(k, 0.0) for k in ("backbone_s", "heads_s", "optimizer_s"))
    for k in ("backbone", "heads", "optimizer"):
        if f"{k}_s" in out:
            out[f"{k}_share"] = out[f"{k}_s"] / total
    return out


def child(args: argparse.Namespace) -> dict:
    """One precision in this process: capped epoch, then the step profile."""
    import torch

    from crossrec.data.windows import TrainWindows
    from crossrec.train.engine import TargetDomainTrainer

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    split = load_split(args)
    cfg = train_config(args.child, args.quick, args.dataset)
    trainer = TargetDomainTrainer(cfg, split, log=lambda _msg: None)
    setup_s = time.perf_counter() - t0
    rss_setup, peak_setup = current_rss_mb(), peak_rss_mb()
    bs = cfg.optim.batch_size
    n_windows = len(trainer.windows)
    steps_per_epoch = math.ceil(n_windows / bs)
    steps = min(args.steps or steps_per_epoch, steps_per_epoch)
    if steps < steps_per_epoch:
        pick = np.random.default_rng(0).permutation(n_windows)[: steps * bs]
        w = trainer.windows
        trainer.windows = TrainWindows(w.items[pick], w.domains[pick], w.labels[pick], w.next_items[pick])
    stamps: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    stats = trainer.train_epoch(progress=lambda *_: stamps.append(time.perf_counter()))
    t_end, epoch_cpu_s = time.perf_counter(), time.process_time() - c0
    epoch_s, refresh_s = t_end - t0, t_end - stamps[-1]  # after the last step: T's catalogue re-encoded
    step_times = np.diff([t0, *stamps])
    steady = float(np.median(step_times[1:] if len(step_times) > 1 else step_times))
    row = {
        "precision": args.child, "threads": args.threads, "setup_s": setup_s, "rss_after_setup_mb": rss_setup,
        "peak_rss_setup_mb": peak_setup, "windows_per_epoch": n_windows,
        "steps_per_epoch": steps_per_epoch, "steps_run": stats.steps, "windows_run": stats.windows,
        "batch_size": bs, "epoch_s_measured": epoch_s, "epoch_cpu_s_measured": epoch_cpu_s,
        "step_s": steady, "steps_per_s": 1 / steady, "samples_per_s": bs / steady,
        "samples_per_s_engine": stats.samples_per_s, "catalogue_refresh_s": refresh_s,
        "est_epoch_s": steps_per_epoch * steady + refresh_s,
        "est_epoch_cpu_s": epoch_cpu_s * steps_per_epoch / max(stats.steps, 1),
        "loss": stats.loss,
    }
    row.update(profile_step(trainer, args.repeats))
    row["backbone_memory_mb"] = trainer.text.encoder.backbone.memory_bytes() / 2**20
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def run_child(args: argparse.Namespace, precision: str, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", precision, "--threads", str(threads),
           "--dataset", args.dataset, "--target", args.target, "--repeats", str(args.repeats)]
    cmd += ["--steps", str(args.steps)] if args.steps else []
    cmd += ["--quick"] if args.quick else []
    print(f"  {precision} ({threads} thread{'s' if threads > 1 else ''}) ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"precision": precision, "threads": threads, "error": " | ".join(tail) or f"exit {proc.returncode}"}
    return json.loads(line[len(MARKER) :])


def goals(rows: list[dict]) -> list[dict]:
    base = next((r for r in rows if r["precision"] == "fp32" and "error" not in r), None)
    nf4 = next((r for r in rows if r["precision"] == "nf4" and r.get("threads") == base["threads"]
                and "error" not in r), None) if base else None
    if nf4 is None:
        return []
    out = []
    for clock, key in (("wall", "step_s"), ("cpu", "est_epoch_cpu_s")):
        slow = nf4[key] / base[key]
        out.append({"goal": f"nf4 training not slower than {GOAL_NF4_SLOWDOWN:g}x fp32 ({clock} time per step)",
                    "measured": slow, "ratio_to_goal": slow / GOAL_NF4_SLOWDOWN, "met": slow <= GOAL_NF4_SLOWDOWN})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="data/ml-1m", help="canonical dataset dir (ML-1M import)")
    ap.add_argument("--target", default="family")
    ap.add_argument("--precisions", default="fp32,int8,nf4")
    ap.add_argument("--steps", type=int, default=None, help="cap the epoch at N steps (default: full epoch)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1 worker)")
    ap.add_argument("--also-threads", type=int, default=None, help="also run fp32 with this many threads")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each profiled phase")
    ap.add_argument("--quick", action="store_true", help="synthetic data, tiny heads, 3 steps, fp32 + nf4")
    ap.add_argument("--out", default="docs/results/train_throughput.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = args.steps or 3, 1
    if args.child:
        print(MARKER + json.dumps(child(args), default=float))
        return 0
    precisions = args.precisions.split(",")
    if args.quick and args.precisions == ap.get_default("precisions"):
        precisions = ["fp32", "nf4"]
    rows = [run_child(args, p, args.threads) for p in precisions]
    if args.also_threads:
        rows.append(run_child(args, "fp32", args.also_threads))
    base = next((r for r in rows if r["precision"] == "fp32" and "error" not in r), None)
    for r in rows:
        if base is not None and "error" not in r:
            r["slowdown_vs_fp32"] = r["step_s"] / base["step_s"]
            r["cpu_slowdown_vs_fp32"] = r["est_epoch_cpu_s"] / base["est_epoch_cpu_s"]
            r["rss_vs_fp32"] = r["peak_rss_mb"] / base["peak_rss_mb"]
    result = {"dataset": "synthetic" if args.quick else args.dataset, "target": "movies" if args.quick else args.target,
              "config": QUICK_OVERRIDES if args.quick else ML1M_CONFIG, "results": rows, "goals": goals(rows),
              "command": "python bench/train_throughput.py" + (" --quick" if args.quick else "")
              + (f" --steps {args.steps}" if args.steps and not args.quick else "")
              + (f" --also-threads {args.also_threads}" if args.also_threads else "")}
    print(format_table(rows, ["precision", "threads", "samples_per_s", "steps_per_s", "slowdown_vs_fp32",
                              "cpu_slowdown_vs_fp32", "peak_rss_mb", "backbone_tokens_per_s",
                              "est_epoch_s", "est_epoch_cpu_s"]))
    print(format_table(rows, ["precision", "threads", "backbone_s", "heads_s", "optimizer_s",
                              "backbone_cpu_s", "heads_cpu_s", "optimizer_cpu_s", "backbone_share"]))
    for r in rows:
        if "error" in r:
            print(f"{r['precision']}: FAILED: {r['error']}")
    for g in result["goals"]:
        print(f"goal: {g['goal']}: measured {g['measured']:.3g} -> {'met' if g['met'] else 'MISSED'}")
    write_json(args.out, result)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
