"""The performance benchmarks run end to end with --quick (so they cannot rot) and write sane JSON + the page.

The four scripts run concurrently as subprocesses (one module-scoped fixture), exactly as documented:
``python bench/<name>.py --quick --out <file>``. Nothing here is timed: the asserts check structure and
invariants (sorted batches pad less, cache hits encode nothing, excluded items never returned, ...).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHES = ["train_throughput", "item_encoding", "ranker_scaling", "backbone_memory"]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("perf")
    procs = {name: subprocess.Popen([sys.executable, str(REPO / "bench" / f"{name}.py"), "--quick", "--out",
                                     str(out / f"{name}.json")], cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
             for name in BENCHES}
    logs = {name: p.communicate(timeout=600)[0] for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} failed:\n{logs[name][-3000:]}"
        assert "| " in logs[name], f"{name} printed no table"
    return out


def read(results: Path, name: str) -> dict:
    data = json.loads((results / f"{name}.json").read_text())
    assert data["machine"]["cpus"] >= 1 and "loadavg_1m" in data["machine"]
    assert data["command"] == f"python bench/{name}.py --quick"
    return data


def test_train_throughput_per_precision(results: Path) -> None:
    data = read(results, "train_throughput")
    rows = {r["precision"]: r for r in data["results"]}
    assert set(rows) == {"fp32", "nf4"}
    for r in rows.values():
        assert "error" not in r
        assert r["samples_per_s"] > 0 and r["steps_run"] >= 1 and r["est_epoch_s"] > 0
        assert r["peak_rss_mb"] > 100  # a backbone is loaded in each subprocess
        assert r["live_tokens"] <= r["live_tokens_padded"] and r["backbone_tokens_per_s"] > 0
        assert r["backbone_share"] + r["heads_share"] + r["optimizer_share"] == pytest.approx(1.0)
    assert rows["fp32"]["slowdown_vs_fp32"] == 1.0
    assert rows["nf4"]["backbone_memory_mb"] < rows["fp32"]["backbone_memory_mb"]
    assert [g["met"] in (True, False) for g in data["goals"]] == [True, True]


def test_item_encoding_sorting_and_cache(results: Path) -> None:
    data = read(results, "item_encoding")
    sorted_row, unsorted_row, miss, hit = data["results"]
    n = data["n_items"]
    assert sorted_row["padded_share"] <= unsorted_row["padded_share"]
    assert all(r["items"] == n and r["items_per_s"] > 0 for r in data["results"])
    assert all(r["max_abs_diff_vs_sorted"] < 1e-4 for r in data["results"])  # same embeddings on every path
    assert (miss["misses"], miss["hits"]) == (n, 0) and (hit["misses"], hit["hits"]) == (0, n)


def test_ranker_scaling_rows_and_goals(results: Path) -> None:
    data = read(results, "ranker_scaling")
    rows = data["results"]
    assert {(r["items"], r["batch"], r["dtype"], r["threads"]) for r in rows} == {
        (n, b, d, t) for n in (1000, 10000) for b in (1, 8) for d in ("float32", "bfloat16") for t in (1, 2)}
    assert all(r["p50_ms"] > 0 and r["cpu_ms"] >= 0 and r["p90_ms"] >= r["p50_ms"] for r in rows)
    big = [r for r in rows if r["items"] == 10000]
    assert all(r["x_items_vs_smaller"] == 10 and r["items_mb"] > 0 for r in big)
    assert len(data["goals"]) == 12  # per (dtype, threads): batch-1 latency (wall, CPU) and batch/batch-1 ratio
    serving = [(r["items"], r["batch"], r["dtype"], r["threads"]) for r in rows if r["serving_path"]]
    assert len(serving) == len(set(serving)) == 16  # one serving-path row per case; extra rows are comparisons
    import torch

    from crossrec.model.ranker import upcasts_for_batches

    slices = upcasts_for_batches(torch.zeros(1, 1, dtype=torch.bfloat16))
    for r in rows:
        if r["batch"] == 1 or r["dtype"] == "float32":
            assert r["scoring"] == "native" and r["serving_path"]
        elif r["serving_path"]:
            assert r["scoring"] == ("float32 slices" if slices else "native")
        else:  # --compare-native: the native product timed beside the float32 slices
            assert slices and r["scoring"] == "native"


def test_backbone_memory_quick(results: Path) -> None:
    data = read(results, "backbone_memory")
    rows = {r["precision"]: r for r in data["results"]}
    assert rows["fp32"]["ratio_vs_fp32"] == 1.0 and rows["nf4"]["ratio_vs_fp32"] < 1.0
    assert rows["nf4"]["cosine_vs_fp32"] > 0.9
    assert data["goals"][0]["goal"].startswith("nf4 backbone memory")


def test_perf_report_assembles_the_page(results: Path, tmp_path: Path) -> None:
    (results / "serving.json").write_text(json.dumps(
        {"command": "python bench/serve_load.py --quick", "results": [{"mode": "serve", "clients": 8, "rps": 50.0}]}))
    page = tmp_path / "performance.md"
    subprocess.run([sys.executable, str(REPO / "bench" / "perf_report.py"), "--results", str(results),
                    "--out", str(page)], cwd=REPO, check=True, capture_output=True)
    text = page.read_text()
    for heading in ("## Goals", "## Training", "## Memory", "## Item encoding", "## Ranker scaling", "## Serving"):
        assert heading in text
    for name in BENCHES:
        assert f"Command: `python bench/{name}.py --quick`" in text
    assert "load average" in text and "| serve | 8 | 50 |" in text
