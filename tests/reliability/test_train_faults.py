"""Training faults under local Ray: a worker SIGKILLed mid-epoch is restarted from the latest checkpoint
(FailureConfig) and the run ends with the metrics of an uninterrupted run with the same seed."""

from __future__ import annotations

import json

import pytest

from crossrec.train.faults import KILL_WORKER_ENV

pytestmark = [pytest.mark.ray]

TARGET = "movies"
KILL_AT_EPOCH = 3
EPOCHS = 4
POLL_S = 0.5  # Ray Train's controller collects reports (and notices dead workers) every POLL_S seconds
KILL_DELAY_S = 4 * POLL_S  # the kill comes this long after the epoch-2 report, so that report is registered


@pytest.fixture(scope="module")
def fault_ray(tmp_path_factory):
    """A local Ray whose workers carry the kill-once fault (its marker makes it fire a single time)."""
    import ray

    marker = tmp_path_factory.mktemp("fault") / "killed.json"
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, runtime_env={"env_vars": {
                 KILL_WORKER_ENV: f"{KILL_AT_EPOCH}:{KILL_DELAY_S}:{marker}",
                 "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": str(POLL_S)}})
    yield marker
    ray.shutdown()


def uninterrupted(cfg) -> dict:
    """The same config trained in this process without any fault (same trainer, seed and thread count)."""
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


def test_killed_worker_resumes_from_last_checkpoint(fault_ray, fault_dataset, tmp_path, small_train_config) -> None:
    from crossrec.train.config import TrainConfig
    from crossrec.train.run import run_training

    cfg = TrainConfig.from_dict(small_train_config(fault_dataset, tmp_path / "runs", "killed", EPOCHS, max_failures=1))
    killed = run_training(cfg).metrics[TARGET]
    fault = json.loads(fault_ray.read_text())  # written by the worker just before it SIGKILLed itself
    assert fault["epoch"] == KILL_AT_EPOCH and fault["step"] >= 1

    assert killed["resumed_at_epochs"] == [KILL_AT_EPOCH - 1]  # restored once, from the epoch-2 checkpoint
    assert [h["epoch"] for h in killed["history"]] == list(range(1, EPOCHS + 1))  # no epoch lost or repeated
    want = uninterrupted(cfg)
    for got_epoch, want_epoch in zip(killed["history"], want["history"], strict=True):
        assert got_epoch["loss"] == pytest.approx(want_epoch["loss"], rel=1e-3)
        assert got_epoch["valid_ndcg_at_10"] == pytest.approx(want_epoch["valid_ndcg_at_10"], abs=0.01)
    assert killed["best_epoch"] == want["best_epoch"]
    for m in ("ndcg@10", "recall@10"):
        assert killed["test"]["overall"][m] == pytest.approx(want["test"][m], abs=0.01)
