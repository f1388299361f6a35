"""The serving benchmarks (bench/serve_load.py, serve_faults.py, serve_soak.py) run end to end in --quick
mode on the tiny bundle, on this module's local Ray, so they cannot rot. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossrec.benchmarks import serve_faults, serve_load, serve_soak
from crossrec.benchmarks.serving import free_port

pytestmark = pytest.mark.ray


def run(bench: str, serve_bundle: Path, out: Path, **extra) -> dict:
    """``python bench/<bench>.py --bundle ... --target movies --quick --port <free> --out OUT [extra]``,
    in this process (its library function, :mod:`crossrec.benchmarks.<bench>`)."""
    run_bench, config = {"serve_load": (serve_load.run_serve_load, serve_load.LoadConfig),
                         "serve_faults": (serve_faults.run_serve_faults, serve_faults.FaultsConfig),
                         "serve_soak": (serve_soak.run_serve_soak, serve_soak.SoakConfig)}[bench]
    rc = run_bench(config(bundle=str(serve_bundle), target="movies", quick=True, port=free_port(), out=str(out),
                          **extra))
    data = json.loads(out.read_text())
    assert data["machine"]["cpus"] and data["results"]
    return {"rc": rc, **data}


def test_serve_load_quick(serve_bundle, local_ray, tmp_path) -> None:
    data = run("serve_load", serve_bundle, tmp_path / "serving.json")
    modes = [(r["layout"], r["mode"], r["clients"]) for r in data["results"]]
    assert modes == [("in-process", "recommend", 1), ("in-process", "explain", 1), ("in-process", "text-new", 1),
                     ("in-process", "text-cached", 1), ("plain", "recommend", 1),
                     ("plain", "recommend", 8), ("fused", "recommend", 1), ("fused", "recommend", 8),
                     ("composed", "recommend", 1), ("composed", "recommend", 8), ("composed", "explain", 1),
                     ("composed", "text-new", 1), ("composed", "text-cached", 1), ("composed-ray", "recommend", 1), ("composed-ray", "recommend", 8),
                     ("fused-direct", "recommend", 1), ("fused-direct", "recommend", 8),
                     ("composed-direct", "recommend", 1), ("composed-direct", "recommend", 8)]
    assert data["errors"] == 0 and all(r["requests"] > 0 and r["p50_ms"] > 0 for r in data["results"])
    assert all(r["cpu_ms_per_request"] > 0 for r in data["results"])
    cpu = {(c["layout"], c["clients"]): c for c in data["cpu_ms_per_request"]}
    assert {"Ingress", "Encoder", "Fusion", "Ranker", "proxy"} <= cpu[("composed", 1)].keys()
    assert {"Service", "proxy"} <= cpu[("fused", 1)].keys() and "uvicorn" in cpu[("plain", 1)]
    assert (tmp_path / "serving.md").read_text().startswith("# Serving load")
    goals = {g["goal"]: g for g in data["goals"]}
    assert len(goals) == 9 and goals["zero errors (every layout and load level)"]["met"] is True
    at = {(r["layout"], r["mode"], r["clients"]): r for r in data["results"]}
    for layout in ("composed", "composed-direct"):
        ratio = at[(layout, "recommend", 1)]["p50_ms"] / at[("plain", "recommend", 1)]["p50_ms"]
        goal = goals[f"{layout}: p50 at 1 client <= 2x the plain FastAPI app"]
        assert goal["measured"] == pytest.approx(ratio) and goal["met"] == (ratio <= 2)
    # --report-only re-renders the page from the JSON rows, without measuring
    (tmp_path / "serving.md").unlink()
    assert serve_load.run_serve_load(serve_load.LoadConfig(out=str(tmp_path / "serving.json"), report_only=True)) == 0
    assert json.loads((tmp_path / "serving.json").read_text())["goals"] == data["goals"]
    assert "Goals:" in (tmp_path / "serving.md").read_text()

    # bench/perf_report.py: the serving goals and findings reach performance.md
    from crossrec.benchmarks import perf_page

    (tmp_path / "perf").mkdir()
    (tmp_path / "serving.json").rename(tmp_path / "perf" / "serving.json")
    page = perf_page.render(tmp_path / "perf")
    assert "| serving | composed: p50 at 1 client <= 2x the plain FastAPI app |" in page
    assert "Serving at 1 client, p50: in-process" in page and "Stage transport" in page and "Direct ingress" in page
    assert cpu[("composed-direct", 1)]["proxy"] < cpu[("composed", 1)]["proxy"]  # requests skipped the proxy


def test_serve_faults_quick_replicas_are_replaced(serve_bundle, local_ray, tmp_path) -> None:
    data = run("serve_faults", serve_bundle, tmp_path / "faults.json", clients=4)
    assert data["rc"] == 0
    assert [f["fault"] for f in data["results"]] == ["SIGKILL Ranker replica", "SIGKILL Encoder replica"]
    assert all(f["recovered"] and f["new_replica_s"] > 0 for f in data["results"])
    load = data["load"]
    assert load["ready_at_end"] and load["requests_sent"] > 0
    assert load["failed"] <= 0.02 * load["requests_sent"], load  # target 0: clients retry on 503


def test_serve_soak_quick_samples_every_replica(serve_bundle, local_ray, tmp_path) -> None:
    data = run("serve_soak", serve_bundle, tmp_path / "soak.json", clients=2)
    assert {r["process"] for r in data["results"]} >= {"Ingress", "Encoder", "Fusion", "Ranker", "proxy"}
    assert all(r["samples"] >= 3 and r["rss_end_mb"] > 0 and not r["restarted"] for r in data["results"])
    assert data["load"]["errors"] == 0 and data["load"]["requests"] > 0
