"""Ray Train end to end on a tiny dataset: bundle + metrics, resume after an interruption, evaluate CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]



def test_train_resume_and_evaluate(tiny_dataset_dir, tmp_path, train_config_dict, mlflow_server) -> None:
    from mlflow.tracking import MlflowClient

    from crossrec.cli import main
    from crossrec.model.bundle import ModelBundle
    from crossrec.train.config import TrainConfig
    from crossrec.train.run import run_training

    raw = train_config_dict(tiny_dataset_dir, tmp_path / "runs", **{"optim.epochs": 1})
    raw["tracking"] = {"tracking_uri": mlflow_server, "experiment": "train-test"}
    first = run_training(TrainConfig.from_dict(raw))
    assert [h["epoch"] for h in first.metrics["movies"]["history"]] == [1]

    # "Interrupted" after one epoch: the same run name with more epochs continues at epoch 2.
    raw["optim"]["epochs"] = 3
    second = run_training(TrainConfig.from_dict(raw))
    history = second.metrics["movies"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0] == first.metrics["movies"]["history"][0]  # epoch 1 was not re-run

    metrics = json.loads((second.run_dir / "metrics.json").read_text())
    test = metrics["targets"]["movies"]["test"]
    assert test["overall"]["n_users"] == test["cold"]["n_users"] + test["warm"]["n_users"] > 0

    # MLflow: one run across the interruption: params, per-epoch metrics from rank 0, test metrics, the bundle
    client = MlflowClient(tracking_uri=mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("train-test").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["optim.epochs"] == "1"
    assert run.data.tags["resumed.optim.epochs"] == "3"  # the resumed run's change of settings
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "movies/valid_ndcg_at_10")]
    assert steps == [1, 2, 3]
    assert run.data.metrics["movies/test_overall_ndcg_at_10"] == pytest.approx(test["overall"]["ndcg@10"])
    assert "bundle" in [a.path for a in client.list_artifacts(run.info.run_id)]

    bundle = ModelBundle.load(second.bundle_dir)
    assert bundle.targets["movies"].catalogue_vectors.shape[0] == len(bundle.item_index.domain_items("movies"))

    out = tmp_path / "preds.jsonl"
    js = tmp_path / "metrics.json"
    code = main(["evaluate", "--bundle", str(second.bundle_dir), "--data", str(tiny_dataset_dir),
                 "--target", "movies", "--out", str(out), "--json", str(js)])
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == test["overall"]["n_users"]
    assert all(len(p["items"]) == 10 and isinstance(p["user_id"], str) for p in lines)
    # The evaluate command reproduces the metrics the training run reported for the best checkpoint.
    assert json.loads(js.read_text())["metrics"]["overall"]["ndcg@10"] == pytest.approx(test["overall"]["ndcg@10"])


def test_jobs_run_as_scripts_and_fail_cleanly(tiny_dataset_dir, tmp_path, train_config_dict) -> None:
    """jobs/*.py: train → evaluate → batch-recommend as plain scripts; a bad config exits 2 with one line."""
    import subprocess
    import sys

    import pyarrow.parquet as pq
    import yaml

    from crossrec.train.config import TrainConfig
    from crossrec.train.run import run_training

    result = run_training(TrainConfig.from_dict(train_config_dict(tiny_dataset_dir, tmp_path / "runs", **{"optim.epochs": 1})))
    repo = __import__("pathlib").Path(__file__).resolve().parents[2]

    def job(name: str, cfg: dict) -> subprocess.CompletedProcess:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return subprocess.run([sys.executable, str(repo / "jobs" / f"{name}.py"), "--config", str(path)],
                              capture_output=True, text=True, timeout=300)

    ev = job("evaluate", {"bundle": str(result.bundle_dir), "dataset": str(tiny_dataset_dir), "targets": ["movies"],
                          "output": str(tmp_path / "eval")})
    assert ev.returncode == 0, ev.stderr
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["movies"]["overall"]["n_users"] > 0
    assert (tmp_path / "eval" / "movies.predictions.jsonl").stat().st_size > 0

    br = job("batch_recommend", {"bundle": str(result.bundle_dir), "dataset": str(tiny_dataset_dir),
                                 "target": "movies", "k": 5, "output": str(tmp_path / "recs" / "movies.parquet")})
    assert br.returncode == 0, br.stderr
    recs = pq.read_table(tmp_path / "recs" / "movies.parquet").to_pandas()
    assert set(recs.columns) == {"user_id", "rank", "item_id", "score", "fallback"}
    assert recs.groupby("user_id").size().max() == 5
    assert recs["item_id"].str.len().min() > 0

    bad = job("evaluate", {"bundle": str(result.bundle_dir), "dataset": str(tiny_dataset_dir), "targets": ["movies"],
                           "output": str(tmp_path / "e2"), "top_k": 0})
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "top_k" in lines[0] and lines[0].startswith("error:")
