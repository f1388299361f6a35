"""The quality benchmark machinery end to end on tiny synthetic data: every method kind, cache, page, plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crossrec.benchmarks.quality_config import QualityConfig
from crossrec.benchmarks.quality_report import aggregate, comparisons, target_sections, tuning_effort
from crossrec.benchmarks.quality_run import run_benchmark  # behind bench/quality.py
from crossrec.errors import ConfigError

TRAIN_BASE = {
    "run_name": "q", "dataset": "unused", "targets": ["movies"],
    "lora": None,  # the LoRA path is covered by tests/train; here the benchmark machinery is under test
    "backbone": {"max_length": 16},
    "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 1, "max_len": 12, "dropout": 0.1},
              "fusion": {"hidden": 16}},
    "optim": {"batch_size": 64, "lr": 0.003, "live_items_per_step": 4, "next_item_weight": 0.5},
}


def write_config(tmp_path: Path, methods: list[dict], **extra) -> Path:
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(TRAIN_BASE))
    cfg = {"name": "q", "synthetic": {"n_users": 60, "n_items": 12, "domains": ["books", "movies"], "seed": 3},
           "targets": ["movies"], "seeds": [0, 1], "base_train_config": str(tmp_path / "train.yaml"),
           "budget": {"max_epochs": 1, "max_minutes": 1, "patience": None}, "torch_threads": 1,
           "work_dir": str(tmp_path / "work"), "out_dir": str(tmp_path / "out"), "methods": methods, **extra}
    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


METHODS = [
    {"name": "mostpop", "kind": "mostpop", "baseline": True},
    {"name": "sasrec_merged", "kind": "sasrec", "baseline": True, "params": {"mode": "merged", "d_model": 16}},
    {"name": "full", "kind": "crossrec", "all_seeds": True},
    {"name": "no_transfer", "kind": "crossrec", "overrides": {"model.fusion.transfer": False}},
]


def test_quality_bench_runs_every_method_and_writes_the_page(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, METHODS)
    assert run_benchmark(str(config)) == 0
    out = tmp_path / "out"
    page = (out / "q.md").read_text()
    data = json.loads((out / "q.json").read_text())
    assert (out / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = data["summary"]["movies"]
    assert set(summary) == {m["name"] for m in METHODS}
    assert len(summary["full"]["seeds"]) == 2  # all_seeds
    best = data["comparisons"]["movies"]["best_baseline"]
    assert best in {"mostpop", "sasrec_merged"}
    assert len(summary[best]["seeds"]) == 2  # the best baseline is re-run on every seed
    for entry in summary.values():
        assert 0.0 <= entry["overall_ndcg@10"] <= 1.0
    ratio = data["comparisons"]["movies"]["ratio"]["overall"]
    assert ratio == pytest.approx(summary["full"]["overall_ndcg@10"] / summary[best]["overall_ndcg@10"])
    assert "python bench/quality.py --config" in page and "| **full** |" in page
    assert f"full / {best} = " in capsys.readouterr().out
    assert f"**full / best baseline ({best})**" in page
    others = data["comparisons"]["movies"]["other_crossrec_ratios"]
    assert set(others) == {"no_transfer"}  # every other crossrec variant gets its ratio too
    assert others["no_transfer"]["overall"] == pytest.approx(
        summary["no_transfer"]["overall_ndcg@10"] / summary[best]["overall_ndcg@10"])
    assert f"- no_transfer / {best}: " in page

    # A rerun is served from the cache (no method is fitted again) and gives identical figures.
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.json")}
    assert run_benchmark(str(config)) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.json")} == mtimes
    assert json.loads((out / "q.json").read_text())["summary"] == data["summary"]

    # --report-only renders the same figures from the cache and says so.
    assert run_benchmark(str(config), report_only=True) == 0
    assert json.loads((out / "q.json").read_text())["summary"] == data["summary"]
    assert "Page rendered from the cached results by: `python bench/quality.py" in (out / "q.md").read_text()


def test_aggregate_mean_std_and_ratio() -> None:
    def row(method: str, seed: int, ndcg: float, baseline: bool, valid: float | None = None, kind: str = "x") -> dict:
        def m(v: float) -> dict:
            return {sl: {"ndcg@10": v, "recall@10": v, "n_users": 5} for sl in ("overall", "cold", "warm")}
        return {"target": "t", "method": method, "kind": kind, "baseline": baseline, "seed": seed,
                "fit_seconds": 60.0, "valid": m(ndcg if valid is None else valid), "test": m(ndcg)}

    # "d" is the best baseline on test but not on valid: valid alone picks the best baseline
    rows = [row("a", 0, 0.2, False), row("a", 1, 0.4, False), row("b", 0, 0.25, True), row("c", 0, 0.1, True),
            row("d", 0, 0.3, True, valid=0.2)]
    summary = aggregate(rows)
    assert summary["t"]["a"]["overall_ndcg@10"] == pytest.approx(0.3)
    assert summary["t"]["a"]["overall_ndcg@10_std"] == pytest.approx(0.1414, abs=1e-4)
    cfg = QualityConfig.model_validate({"synthetic": {}, "targets": ["t"], "base_train_config": "x",
                                        "methods": [{"name": "a", "kind": "crossrec"}]})
    comp = comparisons(summary, cfg)["t"]
    assert comp["best_baseline"] == "b" and comp["ratio"]["overall"] == pytest.approx(1.2)
    assert comp["goal_overall_met"] and not comp["goal_cold_met"]  # 1.2 >= 1.10 overall, 1.2 < 1.25 cold

    # an ablation run on seed 1 only is compared with the primary's seed 1 (0.4), not its two-seed mean (0.3)
    rows += [row("e", 1, 0.3, False, kind="crossrec"), row("f", 2, 0.3, False, kind="crossrec")]
    comp = comparisons(aggregate(rows), cfg)["t"]
    assert comp["vs_primary"]["e"]["seeds"] == [1] and comp["vs_primary"]["e"]["overall"] == pytest.approx(0.75)
    assert comp["other_crossrec_ratios"]["e"]["overall"] == pytest.approx(1.2)  # against the best baseline
    assert comp["vs_primary"]["f"] == {"seeds": []}  # no seed in common: no ratio
    page = "\n".join(target_sections(aggregate(rows), {"t": comp}, cfg))
    assert "- e: 0.750× overall, 0.750× cold, 0.750× warm (seed 1)" in page and "- f:" not in page


@pytest.mark.parametrize("bad, needle", [
    ({"methods": [{"name": "m", "kind": "mostpop"}]}, "at least one crossrec method"),
    ({"methods": [{"name": "m", "kind": "mostpop", "overrides": {"lora": None}},
                  {"name": "c", "kind": "crossrec"}]}, "overrides only apply"),
    ({"primary": "nope"}, "primary"),
    ({"budget": {"max_minutes": -1}}, "max_minutes"),
])
def test_bad_quality_configs_fail_in_one_line(tmp_path: Path, bad: dict, needle: str) -> None:
    base = {"name": "q", "synthetic": {}, "targets": ["movies"], "base_train_config": "x",
            "methods": [{"name": "c", "kind": "crossrec"}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**base, **bad}))
    with pytest.raises(ConfigError) as err:
        QualityConfig.from_yaml(path)
    assert needle in str(err.value) and "\n" not in str(err.value) and "bad.yaml" in str(err.value)


def test_cache_key_follows_the_resolved_config_and_the_code(tmp_path: Path, monkeypatch) -> None:
    """Rows from different settings never mix: the key changes with a method's overrides, params and budget,
    with the base training config and with the code version; it is stable otherwise."""
    from crossrec.benchmarks import quality_run
    from crossrec.train.config import TrainConfig

    cfg = QualityConfig.from_yaml(write_config(tmp_path, METHODS))
    base = TrainConfig.from_yaml(cfg.base_train_config)
    full = next(m for m in cfg.methods if m.name == "full")
    sasrec = next(m for m in cfg.methods if m.name == "sasrec_merged")
    key = quality_run.method_key(cfg, full, base)
    assert key == quality_run.method_key(cfg, full, base) and len(key) == 12
    changed = [
        quality_run.method_key(cfg, full.model_copy(update={"overrides": {"model.fusion.score": "dot"}}), base),
        quality_run.method_key(cfg, full, base.model_copy(update={"optim": base.optim.model_copy(update={"lr": 0.01})})),
        quality_run.method_key(cfg, full, base, code="another-code"),
        quality_run.method_key(cfg.model_copy(update={"budget": cfg.budget.model_copy(update={"max_epochs": 2})}),
                               full, base),
    ]
    assert len({key, *changed}) == 5
    s_key = quality_run.method_key(cfg, sasrec, base)
    assert s_key != quality_run.method_key(cfg, sasrec.model_copy(update={"params": {"mode": "merged", "d_model": 32}}),
                                           base)
    # a row cached under an old key is not read back: the benchmark fits again and writes a new file
    monkeypatch.setattr(quality_run, "code_version", lambda *_: "old")
    config = write_config(tmp_path, [METHODS[0], METHODS[2]], seeds=[0])
    assert run_benchmark(str(config)) == 0
    old = sorted(p.name for p in (tmp_path / "work").rglob("*.json"))
    monkeypatch.setattr(quality_run, "code_version", lambda *_: "new")
    assert run_benchmark(str(config)) == 0
    new = sorted(p.name for p in (tmp_path / "work").rglob("*.json"))
    assert len(new) == 2 * len(old) and set(old) < set(new)


def test_baseline_keys_follow_only_the_code_they_run() -> None:
    """A change to the crossrec model keeps baseline rows cached; a change to evaluation or to the baseline does not."""
    from crossrec.benchmarks import quality_run

    root = Path(quality_run.__file__).resolve().parents[1]
    for kind, entries in quality_run.BASELINE_ENTRIES.items():
        files = {str(p.relative_to(root)) for p in quality_run._module_closure(root, entries + quality_run.COMMON_ENTRIES)}
        assert {f"eval/baselines/{kind}.py", "eval/runner.py", "eval/metrics.py", "data/split.py"} <= files, kind
        assert not files & {"model/recommender.py", "model/towers.py", "train/engine.py"}, kind
    assert "model/layers.py" in {str(p.relative_to(root)) for p in quality_run._module_closure(
        root, quality_run.BASELINE_ENTRIES["sasrec"])}  # SASRec's transformer blocks are shared with the model
    assert len({quality_run.code_version(k) for k in ("mostpop", "sasrec", "zero_shot", "crossrec")}) == 4
    crossrec = {str(p.relative_to(root)) for p in quality_run._module_closure(
        root, quality_run.CROSSREC_ENTRIES + quality_run.COMMON_ENTRIES)}
    assert {"model/recommender.py", "model/towers.py", "model/fusion.py", "model/layers.py", "data/windows.py",
            "train/engine.py", "train/config.py", "eval/model_scorer.py", "model/backbone.py"} <= crossrec
    assert not crossrec & {"model/ann.py", "model/explain.py"}  # serving-only modules keep crossrec rows cached


def test_suite_page_covers_every_dataset_and_target(tmp_path: Path) -> None:
    """Two configs (two "datasets", one target each) run on their own; the suite renders one page over both."""
    from crossrec.benchmarks.quality_run import run_suite_report

    methods = [METHODS[0], METHODS[2]]  # mostpop (baseline) and the primary crossrec method
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_config(tmp_path / "a", methods, name="data_a")
    first.write_text(yaml.safe_dump({**yaml.safe_load(first.read_text()),
                                     "screens": [str(write_screen(tmp_path / "a", first))]}))
    second = write_config(tmp_path / "b", methods, name="data_b", targets=["books"],
                          synthetic={"n_users": 60, "n_items": 12, "domains": ["books", "movies"], "seed": 4})
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "all", "configs": [str(first), str(second)], "out_dir": str(tmp_path / "page")}))
    with pytest.raises(ConfigError, match="none of .* has a cached result"):
        run_suite_report(str(suite), log=lambda _m: None)
    assert run_benchmark(str(first)) == 0
    logged: list[str] = []
    assert run_suite_report(str(suite), log=logged.append) == 0  # the second has no result yet: left out, said so
    assert any("no cached result" in line and str(second) in line for line in logged)
    assert run_benchmark(str(second)) == 0
    assert run_suite_report(str(suite), log=lambda _m: None) == 0
    page = (tmp_path / "page" / "all.md").read_text()
    data = json.loads((tmp_path / "page" / "all.json").read_text())
    assert [p["quality_config"]["name"] for p in data["parts"]] == ["data_a", "data_b"]
    assert "| data_a | movies | mostpop |" in page and "| data_b | books | mostpop |" in page
    assert "## Target `movies`" in page and "## Target `books`" in page
    assert "## Tuning effort of data_a (valid only)" in page and "## Tuning effort of data_b" not in page
    ratio = data["parts"][1]["comparisons"]["books"]["ratio"]["overall"]
    assert f"{ratio:.3f}×" in page
    assert (tmp_path / "page" / "all.png").read_bytes()[:4] == b"\x89PNG"


def write_screen(tmp_path: Path, quality: Path) -> Path:
    """A screen of two crossrec candidates and three SASRec ones (two target-only, one merged)."""
    methods = [{"name": "a", "kind": "crossrec"}, {"name": "b", "kind": "crossrec", "overrides": {"optim.lr": 0.001}},
               {"name": "t1", "kind": "sasrec", "params": {"mode": "target"}}, {"name": "t2", "kind": "sasrec"},
               {"name": "m1", "kind": "sasrec", "params": {"mode": "merged", "dropout": 0.5}}]
    path = tmp_path / "screen.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "quality_config": str(quality), "target": "movies", "methods": methods}))
    return path


def test_tuning_effort_counts_screened_candidates_per_method_group(tmp_path: Path) -> None:
    """Every crossrec variant shares the design's count; a SASRec counts the screens of its own mode; a method
    with no screened candidate says so (0), and no ``screens`` means no section."""
    quality = write_config(tmp_path, [*METHODS, {"name": "sasrec_target", "kind": "sasrec", "baseline": True}])
    assert tuning_effort(QualityConfig.from_yaml(quality)) == []
    cfg = QualityConfig.from_yaml(quality).model_copy(update={"screens": [str(write_screen(tmp_path, quality))]})
    rows = {line.split(" | ")[0].strip("| "): line for line in tuning_effort(cfg) if line.startswith("| ")}
    assert rows["crossrec"].endswith("| full, no_transfer | 2 |")
    assert rows["sasrec merged"].endswith("| sasrec_merged | 1 |")
    assert rows["sasrec target"].endswith("| sasrec_target | 2 |")
    assert rows["mostpop"].endswith("| 0 (no settings) |")
    missing = cfg.model_copy(update={"screens": [str(tmp_path / "nope.yaml")]})
    with pytest.raises(ConfigError, match="nope.yaml"):
        tuning_effort(missing)


def test_new_items_bench_writes_the_page_with_the_new_item_columns(tmp_path: Path) -> None:
    """bench/new_items.py end to end on tiny data: an item-cold-start split, baselines and crossrec trained for
    text-only items, the page with the new-item columns; a rerun is served from the cache."""
    from crossrec.benchmarks.new_items import run_new_items

    methods = [METHODS[0], {"name": "sasrec_target", "kind": "sasrec", "baseline": True,
                            "params": {"mode": "target", "d_model": 16}},
               {"name": "crossrec", "kind": "crossrec", "overrides": {
                   "model.tower.id_min_interactions": 1, "model.tower.id_dropout": 0.25,
                   "model.tower.candidate_id_dropout": True}}]
    synthetic = {"n_users": 60, "n_items": 80, "domains": ["books", "movies"], "seed": 3}  # 40 movies: > top-10
    config = write_config(tmp_path, methods, seeds=[0], synthetic=synthetic, item_cold_start={"share": 0.25, "seed": 0})
    (tmp_path / "plain").mkdir()
    plain = write_config(tmp_path / "plain", methods, seeds=[0])
    with pytest.raises(ConfigError, match="item_cold_start is not set"):
        run_new_items([str(plain)], log=lambda _m: None)
    # cached rows of the plain split and of the cold-start split never mix
    from crossrec.benchmarks.quality_run import method_key
    from crossrec.train.config import TrainConfig

    cold_cfg, plain_cfg = QualityConfig.from_yaml(config), QualityConfig.from_yaml(plain)
    base = TrainConfig.from_yaml(cold_cfg.base_train_config)
    assert method_key(cold_cfg, cold_cfg.methods[0], base) != method_key(plain_cfg, plain_cfg.methods[0], base)
    logged: list[str] = []
    assert run_new_items([str(config)], out_dir=str(tmp_path / "page"), log=logged.append) == 0
    page = (tmp_path / "page" / "new_items.md").read_text()
    data = json.loads((tmp_path / "page" / "new_items.json").read_text())
    summary = data["parts"][0]["summary"]["movies"]
    assert set(summary) == {"mostpop", "sasrec_target", "crossrec"}
    for entry in summary.values():
        assert entry["new_items_users"] > 0 and entry["old_items_users"] > 0
        assert entry["new_items_users"] + entry["old_items_users"] == entry["overall_users"]
        x = entry["exposure"]
        assert x["new_items"] >= round(0.25 * (x["new_items"] + x["old_items"]))
        assert 0.0 <= x["new_item_coverage@10"] <= 1.0 and 0.0 <= x["new_item_slots@10"] <= 1.0
    assert summary["mostpop"]["exposure"]["new_item_coverage@10"] == 0.0  # hidden items are never counted
    assert summary["mostpop"]["new_items_ndcg@10"] < summary["mostpop"]["old_items_ndcg@10"]
    assert "| method | kind | seeds | NDCG@10 overall | NDCG@10 new items | NDCG@10 old items |" in page
    c = summary["crossrec"]
    assert (f"| crossrec | crossrec | 1 | {c['overall_ndcg@10']:.4f} | {c['new_items_ndcg@10']:.4f} | "
            f"{c['old_items_ndcg@10']:.4f} | {c['new_items_recall@10']:.4f} | "
            f"{c['exposure']['new_item_coverage@10']:.3f} |") in page
    assert "25% of each target's items hidden from training (seed 0)" in page
    assert f"python bench/new_items.py --config {config}" in page
    assert any("new items (" in line for line in logged)  # each fit logs its new-item NDCG@10
    # a rerun renders the same page from the cache, fitting nothing
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.json")}
    assert run_new_items([str(config)], report_only=True, out_dir=str(tmp_path / "page"), log=logged.append) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("*.json")} == mtimes
    assert json.loads((tmp_path / "page" / "new_items.json").read_text())["parts"][0]["summary"]["movies"] == summary
    assert "Page rendered from the cached results by: `python bench/new_items.py" in (tmp_path / "page" / "new_items.md").read_text()
