"""The explanation benchmark end to end on tiny synthetic data: train, deletion test, examples, cost, page, cache."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from crossrec.benchmarks.explanations import ExplanationsConfig, run_explanations, write_page


def _config(tmp_path: Path) -> ExplanationsConfig:
    train = {"run_name": "q", "dataset": "unused", "targets": ["movies"], "lora": None, "backbone": {"max_length": 16},
             "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 1, "max_len": 12, "use_text": False},
                       "fusion": {"hidden": 16}},
             "optim": {"batch_size": 64, "lr": 0.003}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    quality = {"name": "q", "synthetic": {"n_users": 120, "n_items": 15, "domains": ["books", "movies"], "seed": 3},
               "targets": ["movies"], "seeds": [0], "base_train_config": str(tmp_path / "train.yaml"),
               "budget": {"max_epochs": 2, "max_minutes": 1, "patience": None},
               "methods": [{"name": "full", "kind": "crossrec"}]}
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(quality))
    return ExplanationsConfig.from_dict({
        "runs": [{"name": "syn", "quality_config": str(tmp_path / "q.yaml"), "target": "movies"}],
        "users": 30, "examples": 1, "latency_requests": 10,
        "work_dir": str(tmp_path / "work"), "out_dir": str(tmp_path / "out")})


def test_explanation_bench_writes_the_page_and_caches(tmp_path: Path, capsys) -> None:
    cfg = _config(tmp_path)
    results = run_explanations(cfg)
    assert "training full" in capsys.readouterr().out
    paths = write_page(results, cfg, "python bench/explanations.py --config x.yaml")
    data = json.loads(paths["json"].read_text())
    run = data["runs"][0]
    assert run["deletion"]["overall"]["examples"] > 0
    assert {"p50_ms", "p50_ms_explain", "ratio_p50"} <= set(run["latency"])
    assert run["latency"]["p50_ms_explain"] > run["latency"]["p50_ms"]
    assert all(ex["because"] for ex in run["examples"])
    from crossrec.model.bundle import ModelBundle

    bundle = ModelBundle.load(next(Path(cfg.work_dir).glob("*.bundle")))  # servable: the serving benchmark uses it
    assert list(bundle.targets) == ["movies"]
    page = paths["md"].read_text()
    assert "## syn: target movies (full)" in page and "| overall |" in page
    assert "| composed | True | 1 |" in page  # the serving benchmark's explain rows (docs/results/serving.json)
    # second call: from the cache, no training (compared as JSON: an empty new-item slice is NaN, and NaN != NaN)
    assert json.dumps(run_explanations(cfg), sort_keys=True) == json.dumps(results, sort_keys=True)
    assert "training" not in capsys.readouterr().out


def test_a_run_naming_no_crossrec_method_fails_in_one_line(tmp_path: Path) -> None:
    import pytest

    from crossrec.errors import ConfigError

    cfg = _config(tmp_path)
    bad = cfg.model_copy(update={"runs": [cfg.runs[0].model_copy(update={"method": "mostpop"})]})
    with pytest.raises(ConfigError, match=r"run syn: method 'mostpop' is not a crossrec method of .*q.yaml \(has \['full'\]\)"):
        run_explanations(bad)
