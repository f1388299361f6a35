"""Training faults under local Ray (bench/train_faults.py at its --quick sizes):

* a Ray Train worker SIGKILLed mid-epoch is restarted from the latest checkpoint (FailureConfig) and the run
  ends with the metrics of an uninterrupted run with the same seed;
* a sweep whose driver process (with its embedded Ray) is SIGKILLed resumes: finished trials are kept, not
  re-run, and the sweep completes.
"""

from __future__ import annotations

import pytest

import crossrec.benchmarks.train_faults as tf  # behind bench/train_faults.py

pytestmark = [pytest.mark.ray]
QUICK = tf.SIZES["quick"]


def test_killed_worker_resumes_from_last_checkpoint(tmp_path) -> None:
    r = tf.worker_kill(tmp_path, QUICK["epochs"], QUICK["kill_at"])
    assert r["fault"] is not None and r["fault"]["epoch"] == QUICK["kill_at"]  # the worker really was killed
    assert r["resumed_at_epochs"] == [QUICK["kill_at"] - 1]  # restored once, from the checkpoint before it
    assert r["history_epochs"] == list(range(1, QUICK["epochs"] + 1))  # no epoch lost or repeated
    assert r["loss_killed"] == pytest.approx(r["loss_clean"], rel=1e-3)
    assert r["valid_ndcg_killed"] == pytest.approx(r["valid_ndcg_clean"], abs=0.01)
    assert r["best_epoch"]["killed"] == r["best_epoch"]["clean"]
    assert max(r["test_abs_diff"].values()) <= 0.01


def test_killed_sweep_driver_resumes_keeping_finished_trials(tmp_path) -> None:
    import ray

    from crossrec.tune.config import SweepConfig
    from crossrec.tune.run import run_sweep

    path = tf.write_sweep(tmp_path, QUICK["grid"], QUICK["sweep_epochs"])
    killed = tf.kill_sweep_midway(path, len(QUICK["grid"]))
    assert 0 < len(killed["finished"]) < len(QUICK["grid"])
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        result = run_sweep(SweepConfig.from_yaml(path))  # the same sweep again: resumes
    finally:
        ray.shutdown()
    assert result.resumed and len(result.table) == len(QUICK["grid"])
    check = tf.check_resumed(killed, len(QUICK["grid"]))
    assert check["finished_trials_unchanged"] and check["all_finished"], check
    assert check["results_rows"] == len(QUICK["grid"])


def test_trial_states_read_the_newest_run_not_the_newest_mtime(tmp_path) -> None:
    """A resumed sweep re-uploads the first run's state file after its own: the name decides, as in Tune."""
    import json
    import os

    def state(name: str, status: str, mtime: float) -> None:
        path = tmp_path / f"experiment_state-{name}.json"
        path.write_text(json.dumps({"trial_data": [[json.dumps({"trial_id": "t0", "status": status}), "{}"]]}))
        os.utime(path, (mtime, mtime))

    state("2026-11-30_04-30-27", "TERMINATED", 1000.0)  # the resumed run's state
    state("2026-11-30_04-30-19", "PENDING", 2000.0)  # the killed run's, copied back later
    assert tf._trial_states(tmp_path) == {"t0": "TERMINATED"}
