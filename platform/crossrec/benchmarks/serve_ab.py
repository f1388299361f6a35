"""Serving latency of two checkouts, interleaved: does a change slow the common request down?

Each round deploys the composed Serve graph from one checkout's source (``<checkout>/platform`` on
``PYTHONPATH``, a child process with its own embedded Ray), sends catalogue-item requests from one client for a
fixed time, measures the same requests in-process, and, where the checkout reads request-time item text
(issue 18), requests whose history also carries 10 items known only by their text (texts new to the Encoder's
cache, then cached). Rounds alternate ``A B B A A B ...`` so that slow drift of a shared machine falls on both
sides alike; the figure compared is the median over rounds of each round's p50.

The child only uses benchmark helpers that both sides have (``crossrec.benchmarks.serving`` and
``serve_load.measure`` / ``in_process``), so an older checkout can be measured as it was.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crossrec.benchmarks.results import format_table, write_json
from crossrec.utils.io import atomic_write_text

__all__ = ["AbConfig", "round_order", "run_serve_ab", "summarize_ab"]

# Runs in the child, against either checkout's package (kept to helpers both have).
CHILD = r"""
import json, sys
from pathlib import Path
spec = json.loads(Path(sys.argv[1]).read_text())
from crossrec.benchmarks.serving import free_port, request_bodies, start, stop
from crossrec.benchmarks.serve_load import in_process, measure, serve_pids
from crossrec.serve.loadgen import run_load
bundle, rows = Path(spec["bundle"]), []
bodies = request_bodies(bundle, spec["target"])
modes = {"recommend": bodies}
try:
    from crossrec.benchmarks.serve_load import text_modes
    modes.update(text_modes(bodies, spec["max_requests"]))
except ImportError:
    pass
rows.append({"where": "in-process", "mode": "recommend", **in_process(bundle, bodies, spec["in_process_requests"])})
url = start(bundle, free_port(), layout="composed")
try:
    pids = serve_pids()
    run_load(url, bodies, 1, duration_s=2.0, max_requests=100)  # warm-up
    import crossrec, urllib.request
    ask = urllib.request.Request(url + "/recommend", data=json.dumps(bodies[0]).encode(),
                                 headers={"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(ask, timeout=30).read())
    served = {"package": crossrec.__file__, "response_keys": sorted(answer)}  # which code the replicas run
    for mode, mode_bodies in modes.items():
        row, _ = measure(url, mode_bodies, 1, spec["duration"], spec["max_requests"], pids)
        rows.append({"where": "composed", "mode": mode, **row, **served})
finally:
    stop()
Path(spec["out"]).write_text(json.dumps(rows))
"""


@dataclass
class AbConfig:
    """Options of ``bench/serve_ab.py``."""

    base: str  # checkout A (the reference): a directory holding platform/crossrec
    head: str = "."  # checkout B (the change)
    bundle: str = "runs/explanations/ml1m_family-af9addc4eab7.bundle"
    target: str = "family"
    rounds: int = 6
    duration: float = 20.0  # seconds per (round, mode) at one client
    max_requests: int = 4000
    in_process_requests: int = 400
    out: str = "docs/results/serving_ab.json"
    labels: tuple[str, str] = field(default=("base", "head"))


def round_order(rounds: int) -> list[int]:
    """Which side (0 = A, 1 = B) each round measures: A B B A A B B A ... (``rounds`` entries)."""
    return [(r + 1) // 2 % 2 for r in range(rounds)]


def _platform(checkout: str) -> Path:
    path = Path(checkout).resolve() / "platform"
    if not (path / "crossrec").is_dir():
        raise FileNotFoundError(f"{checkout}: no platform/crossrec here (give a crossrec checkout)")
    return path


def _measure(cfg: AbConfig, checkout: str, tmp: Path, r: int) -> list[dict]:
    spec, out = tmp / f"round{r}.json", tmp / f"round{r}.rows.json"
    spec.write_text(json.dumps({"bundle": str(Path(cfg.bundle).resolve()), "target": cfg.target, "out": str(out),
                                "duration": cfg.duration, "max_requests": cfg.max_requests,
                                "in_process_requests": cfg.in_process_requests}))
    env = {**os.environ, "PYTHONPATH": str(_platform(checkout)), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", CHILD, str(spec)], check=True, env=env, cwd=tmp)
    return json.loads(out.read_text())


def summarize_ab(rows: list[dict], labels: tuple[str, str]) -> list[dict]:
    """Per (where, mode): each side's median over rounds of p50 (and p95, CPU ms per request), the rounds, and
    B's median p50 over A's (absent when only one side has the mode)."""
    out = []
    keys = sorted({(r["where"], r["mode"]) for r in rows}, key=lambda k: (k[0] != "in-process", k[1] != "recommend", k))
    for where, mode in keys:
        line: dict = {"where": where, "mode": mode}
        for label in labels:
            part = [r for r in rows if (r["where"], r["mode"], r["side"]) == (where, mode, label)]
            if part:
                line[f"{label}_p50_ms"] = statistics.median(r["p50_ms"] for r in part)
                line[f"{label}_p95_ms"] = statistics.median(r["p95_ms"] for r in part)
                line[f"{label}_cpu_ms"] = statistics.median(r["cpu_ms_per_request"] for r in part)
                line[f"{label}_rounds"] = len(part)
                line[f"{label}_errors"] = sum(r["errors"] for r in part)
        a, b = (line.get(f"{label}_p50_ms") for label in labels)
        if a and b:
            line["p50_ratio"] = b / a
        out.append(line)
    return out


def run_serve_ab(cfg: AbConfig, command: str) -> int:
    """Measure both checkouts in interleaved rounds; print the table, write ``cfg.out`` and its ``.md``."""
    sides = (cfg.base, cfg.head)
    for checkout in sides:
        _platform(checkout)
    if not Path(cfg.bundle).is_dir():
        raise FileNotFoundError(f"{cfg.bundle}: no model bundle here (--bundle)")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r, side in enumerate(round_order(cfg.rounds)):
            label = cfg.labels[side]
            print(f"round {r + 1}/{cfg.rounds}: {label} ({sides[side]})", flush=True)
            for row in _measure(cfg, sides[side], Path(tmp), r):
                rows.append({"round": r + 1, "side": label, **row})
                print(f"  {row['where']:<10} {row['mode']:<12} p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  "
                      f"errors {row['errors']}", flush=True)
    summary = summarize_ab(rows, cfg.labels)
    columns = ["where", "mode"] + [f"{label}_{k}" for label in cfg.labels for k in ("p50_ms", "p95_ms", "cpu_ms")] \
        + ["p50_ratio"]
    table = format_table(summary, columns)
    print(table)
    out = write_json(cfg.out, {"command": command, "config": asdict(cfg), "summary": summary, "rows": rows})
    atomic_write_text(out.with_suffix(".md"), f"# Serving latency, two checkouts interleaved\n\n`{command}`\n\n"
                      f"Median over rounds of each round's p50 / p95 at one client ({cfg.rounds} rounds, "
                      f"{cfg.duration:g} s per mode, order {' '.join(cfg.labels[s] for s in round_order(cfg.rounds))}"
                      f"); bundle `{cfg.bundle}`, target `{cfg.target}`.\n\n{table}\n")
    return 0
