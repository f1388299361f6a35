"""Training faults under local Ray, measured (behind ``bench/train_faults.py``): (1) a Ray Train worker
SIGKILLed mid-epoch, (2) a Ray Tune sweep whose driver process (and with it its embedded Ray) is SIGKILLed
after some trials finished, then resumed.

(1) trains a small synthetic config with ``checkpoint.max_failures: 1`` while the worker kills itself once
(``crossrec.train.faults``), then trains the same config in-process without a fault and compares per-epoch
losses, valid NDCG@10 and test metrics. (2) runs ``crossrec tune`` as a child process (own session), kills the
whole process group once the experiment state lists finished trials, re-runs the same command and checks
that every trial finished before the kill kept its results (not re-run) and the sweep completed.
``tests/reliability`` share this module's tiny dataset and training config and run both faults at the
``quick`` sizes (re-running the killed sweep in the test's own Ray, which saves a process and a Ray start).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from crossrec.benchmarks.results import write_json

TARGET = "movies"
POLL_S = 0.5  # Ray Train controller poll; a report younger than one poll dies with a killed worker
SIZES = {"quick": {"epochs": 4, "kill_at": 3, "grid": [0.002, 0.004, 0.006, 0.008], "sweep_epochs": 1},
         "full": {"epochs": 8, "kill_at": 5, "grid": [0.001, 0.002, 0.003, 0.005, 0.008, 0.013], "sweep_epochs": 2}}


def make_dataset(work: Path) -> Path:
    from crossrec.data.dataset import save_dataset
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    path = work / "data"
    if not path.is_dir():
        ds = generate_synthetic(SyntheticConfig(n_users=120, n_items=24, domains=["books", TARGET], n_topics=4,
                                                max_interactions=30, seed=3))
        save_dataset(ds, path)
    return path


def train_config(dataset: Path, storage: Path, run_name: str, epochs: int, max_failures: int) -> dict[str, Any]:
    """ID-only heads (no backbone), 1 worker with 1 thread, no early stopping: seconds per epoch."""
    return {
        "run_name": run_name, "dataset": str(dataset), "targets": [TARGET], "storage_path": str(storage), "seed": 0,
        "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 12, "dropout": 0.1,
                            "use_text": False}, "fusion": {"variant": "gate", "hidden": 16}},
        "optim": {"epochs": epochs, "batch_size": 32, "lr": 0.005, "patience": None},
        "scaling": {"num_workers": 1, "cpus_per_worker": 1, "torch_threads": 1},
        "checkpoint": {"keep_best": 1, "max_failures": max_failures},
    }


# ------------------------------------------------------------------------------------------ worker kill
def uninterrupted_in_process(cfg) -> dict[str, Any]:
    """``cfg`` trained in this process without faults (same trainer, seed and thread count as the worker)."""
    import torch

    from crossrec.train.data_access import load_split_for
    from crossrec.train.engine import TargetDomainTrainer
    from crossrec.train.fit import fit_in_process

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.scaling.torch_threads)
    try:
        trainer = TargetDomainTrainer(cfg, load_split_for(cfg.dataset, TARGET), log=lambda _m: None)
        fit = fit_in_process(trainer, cfg.optim.epochs, log=lambda _m: None)
        test = trainer.evaluate("test").metrics["overall"]
    finally:
        torch.set_num_threads(threads)
    return {"history": fit.history, "best_epoch": fit.best_epoch, "test": test}


def worker_kill(work: Path, epochs: int, kill_at: int) -> dict[str, Any]:
    """Kill the Ray Train worker once, halfway through epoch ``kill_at``; compare with a fault-free run."""
    import ray

    from crossrec.train.config import TrainConfig
    from crossrec.train.faults import KILL_WORKER_ENV
    from crossrec.train.run import run_training

    marker = work / "worker-killed.json"
    marker.unlink(missing_ok=True)
    if ray.is_initialized():
        raise RuntimeError("worker_kill starts its own Ray (the fault lives in the workers' environment)")
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, runtime_env={"env_vars": {
                 KILL_WORKER_ENV: f"{kill_at}:{4 * POLL_S}:{marker}",
                 "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": str(POLL_S)}})
    try:
        cfg = TrainConfig.from_dict(train_config(make_dataset(work), work / "runs", "killed", epochs, 1))
        t0 = time.perf_counter()
        killed = run_training(cfg).metrics[TARGET]
        seconds = time.perf_counter() - t0
    finally:
        ray.shutdown()
    t0 = time.perf_counter()
    clean = uninterrupted_in_process(cfg)
    diffs = {m: abs(killed["test"]["overall"][m] - clean["test"][m]) for m in ("ndcg@10", "recall@10")}
    return {
        "fault": json.loads(marker.read_text()) if marker.exists() else None,
        "epochs": epochs, "kill_at_epoch": kill_at,
        "resumed_at_epochs": killed["resumed_at_epochs"],
        "history_epochs": [h["epoch"] for h in killed["history"]],
        "loss_killed": [h["loss"] for h in killed["history"]], "loss_clean": [h["loss"] for h in clean["history"]],
        "valid_ndcg_killed": [h["valid_ndcg_at_10"] for h in killed["history"]],
        "valid_ndcg_clean": [h["valid_ndcg_at_10"] for h in clean["history"]],
        "best_epoch": {"killed": killed["best_epoch"], "clean": clean["best_epoch"]},
        "test_killed": {m: killed["test"]["overall"][m] for m in diffs},
        "test_clean": {m: clean["test"][m] for m in diffs}, "test_abs_diff": diffs,
        "seconds_killed_run": round(seconds, 1), "seconds_clean_in_process": round(time.perf_counter() - t0, 1),
    }


# ------------------------------------------------------------------------------------------ sweep kill
def _trial_states(sweep_dir: Path) -> dict[str, str]:
    """Trial id -> status from Tune's latest saved experiment state (what a restore reads).

    "Latest" is the greatest file name (its start timestamp), as in Tune's own restore. Not the newest
    mtime: a resumed run re-uploads the older run's state file next to its own at the end, so mtime
    order between the two is arbitrary (a CI run read the stale one)."""
    states = sorted(sweep_dir.glob("experiment_state-*.json"), key=lambda p: p.name)
    if not states:
        return {}
    try:
        data = json.loads(states[-1].read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # being written
    out = {}
    for entry in data.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry, list) else entry
        out[str(trial.get("trial_id"))] = str(trial.get("status"))
    return out


def _results(sweep_dir: Path) -> dict[str, str]:
    """Trial dir name -> its result.json text."""
    return {p.parent.name: p.read_text() for p in sweep_dir.glob("*/result.json")}


def write_sweep(work: Path, grid: list[float], epochs: int) -> Path:
    """A grid sweep (FIFO, one trial per value) over the small config; returns its YAML path."""
    sweep = {"name": "killed-sweep", "target": TARGET, "storage_path": str(work / "sweeps"), "num_samples": 1,
             "search": "grid", "scheduler": {"type": "fifo"}, "cpus_per_trial": 1,
             "base": train_config(make_dataset(work), work / "runs", "base", epochs, 0),
             "space": {"optim.lr": {"grid": grid}}}
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def _tune_cmd(path: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}  # save the experiment state every second
    env.pop("RAY_ADDRESS", None)  # its own embedded Ray, killed with it
    return [str(Path(sys.executable).parent / "crossrec"), "tune", "--config", str(path)], env


def kill_sweep_midway(path: Path, n_trials: int, timeout: float = 300) -> dict[str, Any]:
    """Run ``crossrec tune`` as a child in its own session; SIGKILL its whole process group (driver + its
    embedded Ray) as soon as Tune's saved experiment state lists some, not all, trials as finished."""
    sweep_dir = path.parent / "sweeps" / "killed-sweep"
    cmd, env = _tune_cmd(path)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=path.parent,
                            start_new_session=True)
    finished: list[str] = []
    try:
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            finished = sorted(t for t, s in _trial_states(sweep_dir).items() if s == "TERMINATED")
            if 0 < len(finished) < n_trials:
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the sweep was not killed mid-way (exit {proc.returncode}, {len(finished)} finished)")
    results = _results(sweep_dir)
    return {"sweep_dir": sweep_dir, "finished": finished, "killed_after_s": round(time.perf_counter() - t0, 1),
            "finished_results": {n: r for n, r in results.items() if any(t in n for t in finished)}}


def check_resumed(killed: dict[str, Any], n_trials: int) -> dict[str, Any]:
    """After the re-run: were the trials finished before the kill kept as they were, and did all finish?"""
    sweep_dir = killed["sweep_dir"]
    after = _results(sweep_dir)
    kept = killed["finished_results"]
    csv = sweep_dir / "results.csv"
    rows = max(0, len(csv.read_text().strip().splitlines()) - 1) if csv.exists() else 0
    return {
        "trials": n_trials, "finished_before_kill": len(killed["finished"]), "killed_after_s": killed["killed_after_s"],
        "finished_trials_unchanged": len(kept) == len(killed["finished"]) and all(
            after.get(name) == text for name, text in kept.items()),
        "results_rows": rows, "all_finished": sorted(_trial_states(sweep_dir).values()) == ["TERMINATED"] * n_trials,
    }


def sweep_driver_kill(work: Path, grid: list[float], epochs: int, timeout: float = 300) -> dict[str, Any]:
    """Kill a sweep's driver mid-way, then run the same ``crossrec tune`` command again."""
    path = write_sweep(work, grid, epochs)
    killed = kill_sweep_midway(path, len(grid), timeout)
    cmd, env = _tune_cmd(path)
    t0 = time.perf_counter()
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=timeout)
    return {**check_resumed(killed, len(grid)), "resume_exit_code": second.returncode,
            "resumed": "resuming sweep" in second.stdout, "resume_seconds": round(time.perf_counter() - t0, 1)}


def run_train_faults(out: str | Path, quick: bool = False, only: str | None = None) -> int:
    """Both faults (or ``only`` "worker" / "sweep") at the quick or full sizes; prints and writes ``out``."""
    size = SIZES["quick" if quick else "full"]
    results: dict[str, Any] = {"mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="crossrec-faults-") as tmp:
        work = Path(tmp)
        if only in (None, "worker"):
            results["worker_kill"] = worker_kill(work, size["epochs"], size["kill_at"])
            print(json.dumps(results["worker_kill"], indent=1))
        if only in (None, "sweep"):
            results["sweep_driver_kill"] = sweep_driver_kill(work, size["grid"], size["sweep_epochs"])
            print(json.dumps(results["sweep_driver_kill"], indent=1))
    write_json(out, results)
    return 0
