"""Ray Train end to end on a tiny dataset: bundle + metrics, resume after an interruption, evaluate CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray

    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_train_resume_and_evaluate(tiny_dataset_dir, tmp_path, train_config_dict) -> None:
    from crossrec.cli import main
    from crossrec.model.bundle import ModelBundle
    from crossrec.train.config import TrainConfig
    from crossrec.train.run import run_training

    raw = train_config_dict(tiny_dataset_dir, tmp_path / "runs", **{"optim.epochs": 1})
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
