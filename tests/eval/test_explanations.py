"""Explanation machinery on synthetic data: the deletion test, explained predictions, the batch job column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossrec.data.dataset import save_dataset
from crossrec.data.split import split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
from crossrec.eval.explanations import add_explanations, deletion_test, summarize_deletions
from crossrec.eval.model_scorer import CrossRecScorer, training_popularity
from crossrec.eval.runner import evaluate
from crossrec.train.config import TrainConfig
from crossrec.train.engine import TargetDomainTrainer

TARGET = "movies"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = generate_synthetic(SyntheticConfig(n_users=150, n_items=20, n_topics=4, max_interactions=30, seed=2))
    split = split_target(ds, TARGET)
    cfg = TrainConfig.from_dict({"run_name": "x", "dataset": "unused", "targets": [TARGET], "lora": None, "seed": 0,
                                 "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 10, "use_text": False}},
                                 "optim": {"epochs": 3, "batch_size": 32, "lr": 0.01}})
    trainer = TargetDomainTrainer(cfg, split, log=lambda _m: None)
    for _ in range(3):
        trainer.train_epoch()
    data_dir = save_dataset(ds, tmp_path_factory.mktemp("data") / "ds")
    return ds, split, cfg, trainer.model.eval(), data_dir


def saved_bundle(trained, path: Path) -> tuple[Path, Path]:
    """(bundle of the trained model at ``path``, dataset directory)."""
    from crossrec.model.bundle import save_bundle

    _, split, cfg, model, data_dir = trained
    popularity = {TARGET: training_popularity(split, model.catalogue.numpy())}
    bundle = save_bundle(path, split.item_index, {TARGET: model}, popularity,
                         {"run_name": "x", "model": cfg.model.model_dump(mode="json")}, None)
    return bundle, data_dir


def test_deletion_test_rows_and_summary(trained) -> None:
    _, split, _, model, _ = trained
    rows = deletion_test(model, split, users=60, seed=1, progress=False)
    assert 0 < len(rows) <= 60
    n_items = len(split.target_items)
    for r in rows:
        assert r.history > 3 and len(r.explained) == 3 and 0 <= r.explained_source_share <= 1
        assert 0 <= r.rank_without_explained < n_items and 0 <= r.rank_without_random < n_items
        assert r.explained_weights == sorted(r.explained_weights, reverse=True)
        assert split.item_index.item_domain[r.item] == model.target_domain
    summary = summarize_deletions(rows)
    assert summary["overall"]["examples"] == len(rows)
    assert summary["overall"]["examples"] == sum(summary[s]["examples"] for s in ("cold", "warm") if s in summary)
    # faithfulness on a trained model: removing the explanation hurts the item more than random removals
    assert summary["overall"]["mean_rank_drop_explained"] > summary["overall"]["mean_rank_drop_random"]
    assert deletion_test(model, split, users=60, seed=1, progress=False) == rows  # deterministic


def test_explained_predictions_name_history_items(trained, tmp_path: Path) -> None:
    _, split, _, model, _ = trained
    preds = tmp_path / "preds.jsonl"
    evaluate(CrossRecScorer(model, split), split, role="test", predictions_out=preds, progress=False, top_k=5)
    add_explanations(preds, model, split, "test", n=2, progress=False)
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    rows = split.role("test")
    assert len(lines) == len(rows)
    seq = split.sequences
    for line, example in zip(lines[:30], rows.itertuples(), strict=False):
        assert len(line["because"]) == len(line["items"]) == 5
        start = seq.offsets[example.user_row]
        history = set(split.item_index.item_ids[seq.items[start : start + example.history_len]])
        for reasons in line["because"]:
            assert len(reasons) <= 2 and all(r["item_id"] in history and r["weight"] > 0 for r in reasons)


def test_batch_job_writes_a_because_column(trained, tmp_path: Path) -> None:
    from crossrec.jobs.batch_recommend import recommend_all_users

    bundle, data_dir = saved_bundle(trained, tmp_path / "bundle")
    plain = recommend_all_users(str(bundle), str(data_dir), TARGET, k=3, progress=False)
    table = recommend_all_users(str(bundle), str(data_dir), TARGET, k=3, progress=False, explain_n=2)
    assert "because" not in plain.column_names
    assert table.column("item_id").to_pylist() == plain.column("item_id").to_pylist()
    because = table.column("because").to_pylist()
    fallback = table.column("fallback").to_pylist()
    assert any(because) and all(len(b) <= 2 for b in because)
    assert all(b == [] for b, f in zip(because, fallback, strict=True) if f)
    assert np.all([r["weight"] > 0 for b in because for r in b])

    from crossrec.cli import main
    from crossrec.eval.bundle_eval import evaluate_bundle

    preds = tmp_path / "preds.jsonl"
    evaluate_bundle(bundle, data_dir, TARGET, predictions_out=preds, top_k=4, explain_n=1)
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert lines and all(len(x["because"]) == 4 and all(len(r) <= 1 for r in x["because"]) for x in lines)
    assert main(["evaluate", "-b", str(bundle), "-d", str(data_dir), "-t", TARGET, "--explain"]) == 2  # no --out


@pytest.mark.ray
def test_ray_data_batch_job_matches_the_in_process_job(trained, tmp_path: Path, local_ray) -> None:
    """The Ray Data pipeline (1 and 2 actors, Parquet parts out) writes the rows of the in-process job."""
    import pyarrow.dataset as pads

    from crossrec.jobs.batch_data import recommend_with_ray_data
    from crossrec.jobs.batch_recommend import recommend_all_users

    bundle, data_dir = saved_bundle(trained, tmp_path / "bundle")
    want = recommend_all_users(str(bundle), str(data_dir), TARGET, k=4, batch_size=32, progress=False)
    want = want.sort_by([("user_id", "ascending"), ("rank", "ascending")]).to_pydict()
    for actors in (1, 2):
        out = tmp_path / f"recs-{actors}"
        stats = recommend_with_ray_data(str(bundle), str(data_dir), TARGET, str(out), k=4, batch_size=32,
                                        actors=actors, cpus_per_actor=0.5)
        got = pads.dataset(out, format="parquet").to_table()
        got = got.sort_by([("user_id", "ascending"), ("rank", "ascending")]).to_pydict()
        assert stats.rows == len(want["user_id"]) and stats.users == len(set(want["user_id"]))
        assert {c: got[c] for c in ("user_id", "rank", "item_id", "fallback")} == \
            {c: want[c] for c in ("user_id", "rank", "item_id", "fallback")}
        assert np.allclose(got["score"], want["score"], atol=1e-5)


@pytest.mark.ray
def test_ray_data_evaluation_gives_the_in_process_metrics(trained, tmp_path: Path, local_ray) -> None:
    from crossrec.errors import ConfigError
    from crossrec.eval.bundle_eval import evaluate_bundle
    from crossrec.jobs.configs import EvaluateJobConfig
    from crossrec.jobs.eval_data import evaluate_with_ray_data

    bundle, data_dir = saved_bundle(trained, tmp_path / "bundle")
    want = evaluate_bundle(bundle, data_dir, TARGET, batch_size=16).metrics
    got = evaluate_with_ray_data(str(bundle), str(data_dir), TARGET, batch_size=16, actors=2).metrics
    assert set(got) == {"overall", "cold", "warm", "new_items", "old_items"}
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)  # NaN (an empty slice) equal too
    with pytest.raises(ConfigError, match="engine ray_data writes metrics only"):
        EvaluateJobConfig.from_dict({"bundle": "b", "dataset": "d", "targets": [TARGET], "output": "o",
                                     "engine": "ray_data"})
