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
    modes = [(r["mode"], r["batching"], r["clients"]) for r in data["results"]]
    assert modes == [("in-process", "-", 1), ("in-process+explain", "-", 1), ("serve", "on", 1), ("serve", "on", 8),
                     ("serve+explain", "on", 1), ("serve", "off", 1), ("serve", "off", 8)]
    assert data["explain_p50_ratio_1_client"] > 0 and data["explain_p50_ratio_in_process"] > 0
    assert data["errors"] == 0 and all(r["requests"] > 0 and r["p50_ms"] > 0 for r in data["results"])
    assert data["overhead_ratio_1_client"] > 0 and data["scaling_rps_ratio"] > 0
    assert {"Ingress", "Encoder", "Fusion", "Ranker", "proxy"} <= data["cpu_ms_per_request"][0].keys()
    idle = data["idle_cpu_ms_per_s"]
    assert {"Ingress", "Encoder", "Fusion", "Ranker", "proxy"} <= idle.keys() and min(idle.values()) >= 0
    assert (tmp_path / "serving.md").read_text().startswith("# Serving load")
    goals = {g["goal"].split(" ")[0]: g for g in data["goals"]}
    assert set(goals) == {"Serve", "req/s", "zero"} and goals["zero"]["met"] is True
    assert goals["Serve"]["measured"] == pytest.approx(data["overhead_ratio_1_client"])
    assert goals["Serve"]["met"] == (data["overhead_ratio_1_client"] <= 3)

    # bench/perf_report.py: the serving goals and findings reach performance.md
    from crossrec.benchmarks import perf_page

    (tmp_path / "perf").mkdir()
    (tmp_path / "serving.json").rename(tmp_path / "perf" / "serving.json")
    page = perf_page.render(tmp_path / "perf")
    assert "| serving | Serve p50 at 1 client <= 3x the in-process p50 |" in page
    assert "Serving at 1 client: Serve p50" in page


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
