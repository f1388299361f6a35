"""The screening loop on tiny synthetic data: valid sample only, crossrec and SASRec candidates, JSONL rows."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from test_quality_bench import write_config  # noqa: E402  (same folder, rootdir import mode)

from crossrec.benchmarks.screen import ScreenConfig, run_screen, valid_sample
from crossrec.data.split import split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic


def test_valid_sample_is_fixed_and_never_holds_test_rows() -> None:
    split = split_target(generate_synthetic(SyntheticConfig(n_users=80, n_items=12, domains=["books", "movies"],
                                                            seed=1)), "movies")
    a, b = valid_sample(split, 10, seed=0), valid_sample(split, 10, seed=0)
    assert len(a.examples) == 10 and set(a.examples["role"]) == {"valid"}
    assert a.examples["user_id"].tolist() == b.examples["user_id"].tolist()
    assert valid_sample(split, 10, seed=1).examples["user_id"].tolist() != a.examples["user_id"].tolist()
    assert len(valid_sample(split, None, 0).examples) == len(split.role("valid"))


def test_screen_fits_each_candidate_and_appends_rows(tmp_path: Path) -> None:
    quality = write_config(tmp_path, [{"name": "full", "kind": "crossrec"}])
    screen = {"name": "s", "quality_config": str(quality), "target": "movies", "valid_users": 15,
              "budget": {"max_epochs": 1, "max_minutes": 1, "patience": None}, "torch_threads": 1,
              "work_dir": str(tmp_path / "screen"),
              "methods": [{"name": "seq", "kind": "crossrec", "overrides": {"model.tower.target_encoder": "sequence"}},
                          {"name": "sasrec", "kind": "sasrec", "params": {"mode": "target", "d_model": 16}}]}
    path = tmp_path / "screen.yaml"
    path.write_text(yaml.safe_dump(screen))
    rows = run_screen(ScreenConfig.from_yaml(path), log=lambda _m: None)
    assert [r["method"] for r in rows] == ["seq", "sasrec"]
    assert rows[0]["overrides"]["lora"] is None  # base_overrides: frozen text by default
    assert all(r["valid"]["overall"]["n_users"] == 15 for r in rows)
    lines = (tmp_path / "screen" / "s.jsonl").read_text().splitlines()
    assert [json.loads(x)["method"] for x in lines] == ["seq", "sasrec"]
    assert run_screen(ScreenConfig.from_yaml(path), log=lambda _m: None, only=["sasrec"])[0]["method"] == "sasrec"
