"""Shared pieces of the serving benchmarks (serve_load, serve_faults, serve_soak): options, bodies, app start/stop.

Each benchmark starts the local Serve app on an embedded Ray (or on the Ray runtime this process already has,
as the tests do), drives it with :func:`crossrec.serve.loadgen.run_load` and stops Serve at the end. Its
options are a :class:`ServeBenchConfig` subclass; ``bench/serve_*.py`` fill one from the command line with
:func:`add_common_args` plus their own options.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class ServeBenchConfig:
    """The options every serving benchmark takes (the command-line flags of the same names)."""

    bundle: str = "runs/ml1m-local/bundle"
    target: str | None = None
    port: int = 0
    quick: bool = False
    out: str = "docs/results/serving.json"


def add_common_args(ap: argparse.ArgumentParser, config: type[ServeBenchConfig]) -> None:
    """The flags of :class:`ServeBenchConfig`, with ``config``'s defaults."""
    ap.add_argument("--bundle", default=config.bundle, help="Model bundle directory.")
    ap.add_argument("--target", default=config.target, help="Target domain (default: the bundle's first).")
    ap.add_argument("--port", type=int, default=config.port, help="HTTP port on 127.0.0.1 (0: a free one).")
    ap.add_argument("--quick", action="store_true", help="A few seconds per phase (what the tests run).")
    ap.add_argument("--out", default=config.out, help="Result JSON path.")


def request_bodies(bundle: Path, target: str, n: int = 64, history: int = 30, seed: int = 0) -> list[dict]:
    """``n`` /recommend bodies with ``history`` random catalogue items each (any domain)."""
    items = pd.read_parquet(bundle / "items.parquet")
    rng = np.random.default_rng(seed)
    ids = items["item_id"].tolist()
    size = min(history, len(ids))
    return [{"history": [{"item_id": ids[i]} for i in rng.choice(len(ids), size=size, replace=False)],
             "target_domain": target, "k": 10} for _ in range(n)]


def text_item_bodies(bodies: list[dict], n_text: int = 10, n: int | None = None) -> list[dict]:
    """``n`` (default ``len(bodies)``) copies of ``bodies`` (cycled) whose histories also carry ``n_text`` items
    outside the catalogue, known by their text alone (``domain``: the target). Every body's texts are distinct,
    so a body seen once is an embedding-cache miss; cycling the same bodies again hits the cache."""
    out = []
    for b in range(n or len(bodies)):
        body = bodies[b % len(bodies)]
        extra = [{"item_id": f"bench-text-{b}-{j}", "domain": body["target_domain"],
                  "text": f"New arrival {b}-{j}: a story of {['love', 'war', 'space', 'crime', 'family'][j % 5]} "
                          f"in {['Paris', 'Tokyo', 'Lagos', 'Lima', 'Oslo'][b % 5]}, volume {b * n_text + j}"}
                 for j in range(n_text)]
        out.append({**body, "history": body["history"] + extra})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resolve(cfg: ServeBenchConfig) -> tuple[Path, str, int]:
    """(bundle, target, port) from the common options; one-line errors for a bad bundle."""
    from crossrec.errors import BundleError

    bundle = Path(cfg.bundle)
    if not (bundle / "bundle.json").is_file():
        raise BundleError(f"{bundle}: not a crossrec bundle (bundle.json missing)")
    target = cfg.target or json.loads((bundle / "bundle.json").read_text())["targets"][0]
    return bundle, target, cfg.port or free_port()


def wait_ready(url: str, timeout_s: float = 120, alive=lambda: True) -> None:
    """Poll ``url``/ready until it answers 200 (RuntimeError after ``timeout_s`` or once ``alive()`` is False)."""
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline and alive():
        try:
            if httpx.get(f"{url}/ready", timeout=15).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url}/ready never answered 200")


def start(bundle: Path, port: int, **overrides) -> str:
    """Deploy the app (embedded Ray unless this process already has one); returns the base URL once ready."""
    from crossrec.serve.app import run_local

    url = run_local(bundle, port=port, blocking=False, **overrides)
    wait_ready(url)
    return url


def stop() -> None:
    from ray import serve

    serve.shutdown()
