"""Training with ``storage_path: s3://…`` against a local S3 API (moto): checkpoints go to the bucket through
Ray Train, the bundle and metrics are published there (manifest last), and nothing lands in a local ``s3:/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_import_train_evaluate_serve_all_on_s3(s3, tiny_dataset_dir, tmp_path, train_config_dict, monkeypatch) -> None:
    import json

    import pyarrow.parquet as pq
    import ray

    from crossrec.data.dataset import load_dataset, save_dataset
    from crossrec.jobs.configs import BatchRecommendJobConfig, EvaluateJobConfig
    from crossrec.jobs.runners import run_batch_recommend, run_evaluate
    from crossrec.model.bundle import ModelBundle
    from crossrec.serve.pipeline import RecommendationService
    from crossrec.serve.schemas import RecommendRequest
    from crossrec.train.config import TrainConfig
    from crossrec.train.run import run_training
    from crossrec.utils.storage import exists, filesystem

    monkeypatch.chdir(tmp_path)
    data = save_dataset(load_dataset(tiny_dataset_dir), "s3://crossrec/data/tiny")  # import: dataset.json last
    assert exists(f"{data}/dataset.json") and load_dataset(data).counts() == load_dataset(tiny_dataset_dir).counts()
    raw = train_config_dict(data, "s3://crossrec/runs", **{"optim.epochs": 1})
    raw["tracking"] = {"enabled": False}
    try:
        result = run_training(TrainConfig.from_dict(raw))  # starts its own Ray: workers get the S3 environment
    finally:
        ray.shutdown()
    run = "s3://crossrec/runs/tiny"
    assert all(exists(f"{run}/{name}") for name in ("bundle/manifest.json", "bundle/bundle.json", "metrics.json",
                                                     "config.yaml"))
    fs, root = filesystem(run)
    from pyarrow.fs import FileSelector

    listed = [i.path for i in fs.get_file_info(FileSelector(root, recursive=True))]
    assert any("checkpoint" in p for p in listed), listed  # Ray Train's checkpoints, in the bucket
    assert not Path("s3:").exists() and not (tmp_path / "s3:").exists()
    assert result.bundle_dir.is_dir() and str(result.bundle_dir).startswith(os.environ["CROSSREC_CACHE"])
    bundle = ModelBundle.load(f"{run}/bundle")
    assert list(bundle.targets) == ["movies"] and bundle.meta["metrics"]["movies"]["test"]

    out = "s3://crossrec/eval/tiny"  # evaluate: bundle, dataset and outputs on the bucket
    run_evaluate(EvaluateJobConfig.from_dict({"bundle": f"{run}/bundle", "dataset": data, "targets": ["movies"],
                                              "output": out}))
    fs, path = filesystem(f"{out}/metrics.json")
    with fs.open_input_stream(path) as f:
        assert json.loads(f.read())["movies"]["overall"]["n_users"] > 0
    recs = "s3://crossrec/batch/tiny.parquet"
    run_batch_recommend(BatchRecommendJobConfig.from_dict({"bundle": f"{run}/bundle", "dataset": data,
                                                           "target": "movies", "output": recs, "k": 3}))
    fs, path = filesystem(recs)
    assert pq.read_table(path, filesystem=fs).num_rows > 0
    parts = "s3://crossrec/batch/tiny-ray-data"  # the same on Ray Data actors, Parquet parts streamed to S3
    try:
        run_batch_recommend(BatchRecommendJobConfig.from_dict({"bundle": f"{run}/bundle", "dataset": data,
                                                               "target": "movies", "output": parts, "k": 3,
                                                               "engine": "ray_data", "actors": 1}))
    finally:
        ray.shutdown()
    import pyarrow.dataset as pads

    assert exists(f"{parts}/_SUCCESS")  # written after the last part
    fs, path = filesystem(parts)
    assert pads.dataset(path, filesystem=fs, format="parquet").count_rows() == pq.read_table(
        filesystem(recs)[1], filesystem=fs).num_rows
    served = RecommendationService(f"{run}/bundle").recommend(RecommendRequest(target_domain="movies", k=3))
    assert served.cold_start and len(served.items) == 3  # the Serve replicas' loader, on the s3:// bundle


def test_a_sweep_on_s3_keeps_its_trials_and_files_in_the_bucket(s3, tiny_dataset_dir, monkeypatch, tmp_path) -> None:
    import ray

    from crossrec.tune.config import SweepConfig
    from crossrec.tune.run import run_sweep
    from crossrec.utils.storage import exists

    monkeypatch.chdir(tmp_path)
    base = {"run_name": "base", "dataset": str(tiny_dataset_dir), "targets": ["movies"], "lora": None,
            "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 10, "use_text": False}},
            "optim": {"epochs": 1, "batch_size": 32}}
    cfg = SweepConfig.from_dict({"name": "s3sweep", "target": "movies", "base": base, "num_samples": 1,
                                 "storage_path": "s3://crossrec/sweeps", "tracking": {"enabled": False},
                                 "space": {"model.fusion.variant": {"grid": ["gate", "sum"]}}})
    try:
        result = run_sweep(cfg)
    finally:
        ray.shutdown()
    assert len(result.table) == 2
    sweep = "s3://crossrec/sweeps/s3sweep"
    assert all(exists(f"{sweep}/{name}") for name in ("results.csv", "best_config.yaml", "sweep.png"))
    assert not (tmp_path / "s3:").exists()
