"""Experiment tracking against a real MLflow server: quality-benchmark runs read back; failures never stop work."""

from __future__ import annotations

from pathlib import Path

import yaml

from crossrec.tracking import Tracker, TrackingConfig, flatten, metric_key


def test_quality_benchmark_logs_one_run_per_result(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from crossrec.benchmarks.quality_run import run_benchmark

    train = {"run_name": "q", "dataset": "unused", "targets": ["movies"], "lora": None,
             "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 1, "max_len": 12, "use_text": False},
                       "fusion": {"hidden": 16}}, "optim": {"batch_size": 64}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    cfg = {"name": "tracked", "synthetic": {"n_users": 80, "n_items": 12, "domains": ["books", "movies"], "seed": 3},
           "targets": ["movies"], "seeds": [0, 1], "base_train_config": str(tmp_path / "train.yaml"),
           "budget": {"max_epochs": 2, "max_minutes": 1, "patience": None},
           "tracking": {"tracking_uri": mlflow_server, "experiment": "quality-test"},
           "work_dir": str(tmp_path / "work"), "out_dir": str(tmp_path / "out"),
           "methods": [{"name": "mostpop", "kind": "mostpop", "baseline": True},
                       {"name": "full", "kind": "crossrec", "all_seeds": True,
                        "overrides": {"model.fusion.variant": "sum"}}]}
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(cfg))
    assert run_benchmark(str(tmp_path / "q.yaml"), log=lambda _m: None) == 0

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("quality-test")
    runs = client.search_runs([exp.experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert names == ["movies/full/seed0", "movies/full/seed1", "movies/mostpop/seed0", "movies/mostpop/seed1"]
    full = next(r for r in runs if r.info.run_name == "movies/full/seed0")
    assert full.info.status == "FINISHED" and full.data.params["overrides.model.fusion.variant"] == "sum"
    assert 0 <= full.data.metrics["test_overall_ndcg_at_10"] <= 1 and full.data.metrics["fit_seconds"] > 0
    curve = client.get_metric_history(full.info.run_id, "valid_ndcg_at_10_by_epoch")
    assert [m.step for m in curve] == [1, 2]


def test_local_store_needs_no_server_and_resumes_the_same_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    cfg = TrackingConfig()
    first = Tracker.start(cfg, tmp_path, "exp", "run", params={"a": 1}, resume_key="k")
    first.log_metrics({"valid_ndcg@10": 0.5, "flag": True, "note": "x"}, step=1)
    again = Tracker.start(cfg, tmp_path, "exp", "run", resume_key="k")
    again.log_metrics({"valid_ndcg@10": 0.6}, step=2)
    again.finish()
    assert again.run_id == first.run_id and (tmp_path / "mlflow.db").is_file()
    run = MlflowClient(first.uri).get_run(first.run_id)
    assert run.data.metrics == {"valid_ndcg_at_10": 0.6} and run.info.status == "FINISHED"
    assert not Tracker.start(TrackingConfig(enabled=False), tmp_path, "exp", "run").active


def test_an_unreachable_server_warns_once_and_work_goes_on(tmp_path: Path, capsys) -> None:
    tracker = Tracker.start(TrackingConfig(tracking_uri="http://127.0.0.1:9"), tmp_path, "exp", "run")
    assert not tracker.active
    tracker.log_metrics({"x": 1.0})  # a no-op, not an error
    tracker.finish()
    err = capsys.readouterr().err
    assert err.count("warning: tracking: http://127.0.0.1:9") == 1 and "continuing without tracking" in err


def test_names_are_made_mlflow_safe() -> None:
    assert metric_key("test_overall_ndcg@10") == "test_overall_ndcg_at_10"
    assert flatten({"model": {"tower": {"d_model": 64}}, "lora": None, "x": {}}) == {
        "model.tower.d_model": "64", "lora": "None", "x": "{}"}
