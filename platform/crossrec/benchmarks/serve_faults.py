"""The serving fault benchmark behind ``bench/serve_faults.py``: kill a Ranker replica, then an Encoder
replica, under steady load; count what fails.

Steady load (httpx clients on loopback) runs the whole time; clients retry a request on HTTP 503 or a
connection error (bounded: ``retries``, back-off 50 ms doubling to 1 s). Each fault SIGKILLs the replica's
process (a crash, not a graceful stop). Serve's controller notices (health checks every 2 s) and starts a
new replica, which loads and checksum-verifies the bundle before it takes requests. Reported per fault:
recovery time (kill → a new replica of that deployment and /ready 200) and overall requests sent,
succeeded, retried and failed (failed = still not 200 after the retries; target 0).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import httpx

from crossrec.benchmarks.results import format_table, write_json
from crossrec.benchmarks.serving import ServeBenchConfig, request_bodies, resolve, start, stop
from crossrec.serve.loadgen import run_load
from crossrec.serve.processes import replicas_of


@dataclass
class FaultsConfig(ServeBenchConfig):
    """Options of the fault benchmark (``bench/serve_faults.py`` flags)."""

    out: str = "docs/results/serve_faults.json"
    clients: int = 8  # concurrent clients of the steady load
    retries: int = 8  # retries per request on 503 / connection errors
    settle: float = 20.0  # seconds of load before, between and after faults


def kill_one(role: str, url: str, timeout_s: float = 120) -> dict:
    """SIGKILL one ``role`` replica; wait until Serve runs a new one and the app is ready again."""
    old = replicas_of(role)
    if not old:
        raise RuntimeError(f"no live {role} replica to kill")
    victim = old[0]
    t0 = time.perf_counter()
    os.kill(victim.pid, signal.SIGKILL)
    replaced = ready = None
    while time.perf_counter() - t0 < timeout_s:
        now = [p for p in replicas_of(role) if p.pid != victim.pid]
        if replaced is None and now:
            replaced = time.perf_counter() - t0
        if replaced is not None:
            try:
                if httpx.get(f"{url}/ready", timeout=10).status_code == 200:
                    ready = time.perf_counter() - t0
                    break
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    return {"fault": f"SIGKILL {role} replica", "killed_pid": victim.pid, "at_s": None,
            "new_replica_s": replaced, "ready_again_s": ready}


def run_serve_faults(cfg: FaultsConfig) -> int:
    """Run the benchmark, print its tables and write ``cfg.out``; 0 when every replica was replaced."""
    bundle, target, port = resolve(cfg)
    settle = 2.0 if cfg.quick else cfg.settle
    roles = ["Ranker", "Encoder"]
    bodies = request_bodies(bundle, target)
    url = start(bundle, port)
    try:
        run_load(url, bodies, 2, duration_s=1.0, max_requests=20)  # warm-up
        result: dict = {}
        load_s = settle * (len(roles) + 1) + 120  # an upper bound: stopped by the request cap below
        done = threading.Event()

        def load() -> None:
            result["load"] = run_load(url, bodies, cfg.clients, duration_s=load_s, max_requests=10**9,
                                      retries=cfg.retries, stop=done)

        thread = threading.Thread(target=load, daemon=True)
        t_start = time.perf_counter()
        thread.start()
        faults = []
        for role in roles:
            time.sleep(settle)
            at = time.perf_counter() - t_start
            faults.append({**kill_one(role, url), "at_s": round(at, 2)})
            print(f"killed {role}: new replica after {faults[-1]['new_replica_s']} s, "
                  f"ready after {faults[-1]['ready_again_s']} s", flush=True)
        time.sleep(settle)
        done.set()  # stop the load generator
        thread.join()
        final_ready = httpx.get(f"{url}/ready", timeout=10).status_code
    finally:
        stop()
    r = result["load"]
    sent = r.requests + r.errors
    fail_times = [round(t, 2) for t, ok in r.events if not ok]
    summary = {"clients": cfg.clients, "retries_per_request": cfg.retries, "requests_sent": sent,
               "succeeded": r.requests, "failed": r.errors, "retried": r.retried, "statuses": r.statuses,
               "failed_at_s": fail_times, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "ready_at_end": final_ready == 200,
               "data_lost": 0}
    for f in faults:
        f["recovered"] = f["ready_again_s"] is not None
    print(format_table(faults, ["fault", "at_s", "new_replica_s", "ready_again_s", "recovered"]))
    print(format_table([summary], ["clients", "requests_sent", "succeeded", "retried", "failed", "p50_ms", "p99_ms"]))
    write_json(cfg.out, {"bundle": str(bundle), "target": target, "quick": cfg.quick,
                         "results": faults, "load": summary})
    ok = summary["ready_at_end"] and all(f["recovered"] for f in faults)
    return 0 if ok else 1
