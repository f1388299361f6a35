"""Ranker scaling: top-k latency and memory against catalogue size, batch 1 and batch 64, side by side.

    python bench/ranker_scaling.py [--sizes 1000,10000,100000,1000000] [--dim 384] [--batches 1,64]
                                   [--k 10] [--exclude 50] [--chunk-size 65536] [--threads 1,2] [--no-compare-native] [--quick]
                                   [--out docs/results/ranker_scaling.json]

Random item matrices (N, dim) in float32 (exact) and bfloat16 (half the bytes) and users (B, dim); each user
excludes ``--exclude`` random items (seen-item filtering). What is timed is
:meth:`crossrec.model.ranker.Ranker.topk` as serving calls it (cosine, temperature, chunked, exclusions), after
one warm-up call per shape: p50/p90 over repeats. ``scoring`` is the Ranker's path: batches against bf16 items
on a CPU without native bf16 dot products score float32 slices; ``--compare-native`` (default) also times the
native product there, side by side.
Sizes (and dtypes, smaller first) run in ascending order in one process, so the peak RSS after a size belongs to
that size; ``overhead_mb`` is that peak minus the RSS before the item matrix and the matrix itself.
Goals (2 CPUs): 1M items top-10 at batch 1 in <= 100 ms; batch 64 <= 10x the batch-1 time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np
import torch

from crossrec.benchmarks.machine import current_rss_mb, peak_rss_mb
from crossrec.benchmarks.perf_goals import GOAL_1M_BATCH1_MS, GOAL_BATCH64_OVER_BATCH1
from crossrec.benchmarks.results import format_table, write_json
from crossrec.model.ranker import Ranker


def item_matrix(n: int, dim: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """(n, dim) contiguous ``dtype``, filled block-wise (no full-size float32/float64 temporaries at 1M x 384)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(n, dim, dtype=dtype)
    for start in range(0, n, 131072):
        out[start : start + 131072] = torch.randn(min(131072, n - start), dim, generator=gen)
    return out


def time_topk(ranker: Ranker, users: torch.Tensor, items: torch.Tensor, k: int, exclude: list[np.ndarray],
              budget_s: float, max_repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU ms of ``ranker.topk`` (one warm-up call first), repeated until ``budget_s`` or
    ``max_repeats``. CPU time is what a call costs without other load (on a shared machine wall time is not)."""
    ranker.topk(users, items, k, exclude)
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < max_repeats and (len(wall) < 3 or time.perf_counter() - start < budget_s):
        t0, c0 = time.perf_counter(), time.process_time()
        ranker.topk(users, items, k, exclude)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def _rankers(args: argparse.Namespace, batch: int, items: torch.Tensor) -> list[tuple[str, Ranker]]:
    """(scoring path, ranker) pairs to time: serving's choice, plus the native reduced-precision product beside
    it where serving's choice is the float32-slice path (``--compare-native``)."""
    auto = Ranker(normalize=True, temperature=0.1, chunk_size=args.chunk_size)
    if not auto.scores_in_float32_slices(batch, items):
        return [("native", auto)]
    pairs = [("float32 slices", auto)]
    if args.compare_native:
        pairs.append(("native", Ranker(normalize=True, temperature=0.1, chunk_size=args.chunk_size, upcast=False)))
    return pairs


def run(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        for dtype in sorted(args.dtypes, key=lambda d: getattr(torch, d).itemsize):  # peak RSS grows every time
            gc.collect()
            base_rss, peak_before = current_rss_mb(), peak_rss_mb()
            items = item_matrix(n, args.dim, getattr(torch, dtype))
            for threads, batch in ((t, b) for t in args.threads for b in args.batches):
                torch.set_num_threads(threads)
                users = torch.randn(batch, args.dim)
                exclude = [rng.choice(n, size=min(args.exclude, n - args.k), replace=False) for _ in range(batch)]
                for path_index, (scoring, ranker) in enumerate(_rankers(args, batch, items)):
                    wall, cpu = time_topk(ranker, users, items, args.k, exclude, args.budget_s, args.max_repeats)
                    _, idx = ranker.topk(users, items, args.k, exclude)
                    assert not any(np.isin(idx[b].numpy(), exclude[b]).any() for b in range(batch)), "excluded item returned"
                    p50 = statistics.median(wall)
                    rows.append({"items": n, "dtype": dtype, "threads": threads, "batch": batch, "scoring": scoring,
                                 "serving_path": path_index == 0, "k": args.k,
                                 "p50_ms": p50, "p90_ms": float(np.percentile(wall, 90)),
                                 "cpu_ms": statistics.median(cpu), "per_user_ms": p50 / batch,
                                 "items_per_s_per_user": n * batch / (p50 / 1000), "repeats": len(wall)})
                    print(f"  N={n:>8} {dtype:>8} threads={threads} B={batch:>3} {scoring:>14}: p50 {p50:8.2f} ms, "
                          f"cpu {rows[-1]['cpu_ms']:8.2f} ms ({len(wall)} runs)", flush=True)
            peak = peak_rss_mb()
            items_mb = items.numel() * items.element_size() / 2**20
            for r in rows:
                if r["items"] == n and r["dtype"] == dtype:
                    r.update(items_mb=items_mb, peak_rss_mb=peak)
                    if peak > peak_before:  # else this size's peak is hidden under an earlier one
                        r["overhead_mb"] = max(peak - base_rss - items_mb, 0.0)
            del items
    for r in rows:  # growth against the next-smaller catalogue and against batch 1
        same = [s for s in rows if s["dtype"] == r["dtype"] and s["threads"] == r["threads"]]
        smaller = [s for s in same if s["batch"] == r["batch"] and s["scoring"] == r["scoring"] and s["items"] < r["items"]]
        if smaller:
            prev = max(smaller, key=lambda s: s["items"])
            r["x_time_vs_smaller"] = r["p50_ms"] / prev["p50_ms"]
            r["x_items_vs_smaller"] = r["items"] / prev["items"]
        one = next((s for s in same if s["items"] == r["items"] and s["batch"] == 1), None)
        if one is not None:
            r["x_vs_batch1"] = r["p50_ms"] / one["p50_ms"]
    return {"dim": args.dim, "k": args.k, "exclude_per_user": args.exclude, "chunk_size": args.chunk_size,
            "results": rows, "goals": goals(rows)}


def goals(rows: list[dict]) -> list[dict]:
    """The issue's ranker goals, checked on the largest catalogue measured (1M in the full run), on the path
    serving takes (not the ``--compare-native`` rows)."""
    out = []
    rows = [r for r in rows if r["serving_path"]]
    for dtype, threads in dict.fromkeys((r["dtype"], r["threads"]) for r in rows):
        same = [r for r in rows if r["dtype"] == dtype and r["threads"] == threads]
        n = max(r["items"] for r in same)
        one = next((r for r in same if r["items"] == n and r["batch"] == 1), None)
        big = max((r for r in same if r["items"] == n), key=lambda r: r["batch"])
        if one is None:
            continue
        for clock in ("p50_ms", "cpu_ms"):
            out.append({"goal": f"{n} items top-{one['k']} at batch 1 <= {GOAL_1M_BATCH1_MS:g} ms "
                                f"({dtype}, {threads} thread(s), {clock})",
                        "measured": one[clock], "ratio_to_goal": one[clock] / GOAL_1M_BATCH1_MS,
                        "met": one[clock] <= GOAL_1M_BATCH1_MS})
        ratio = big["p50_ms"] / one["p50_ms"]
        out.append({"goal": f"batch {big['batch']} <= {GOAL_BATCH64_OVER_BATCH1:g}x batch 1 ({n} items, {dtype}, {threads} thread(s))",
                    "measured": ratio, "ratio_to_goal": ratio / GOAL_BATCH64_OVER_BATCH1,
                    "met": ratio <= GOAL_BATCH64_OVER_BATCH1})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=384, help="item vector dim (MiniLM hidden size)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--dtypes", default="float32,bfloat16", help="item matrix dtypes (float32 is exact)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--exclude", type=int, default=50, help="excluded (seen) items per user")
    ap.add_argument("--chunk-size", type=int, default=65536, help="Ranker chunk size (serving's default)")
    ap.add_argument("--threads", default="1,2", help="torch thread counts to run, side by side")
    ap.add_argument("--budget-s", type=float, default=3.0, help="timing budget per (size, batch)")
    ap.add_argument("--max-repeats", type=int, default=50)
    ap.add_argument("--compare-native", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the native bf16 product where the Ranker takes float32 slices")
    ap.add_argument("--quick", action="store_true", help="1k and 10k items, batch 1 and 8, few repeats")
    ap.add_argument("--out", default="docs/results/ranker_scaling.json")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.dtypes = args.dtypes.split(",")
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        args.sizes, args.batches, args.budget_s, args.max_repeats = [1000, 10000], [1, 8], 0.2, 5
    result = run(args)
    result["command"] = "python bench/ranker_scaling.py" + (" --quick" if args.quick else "")
    cols = ["items", "dtype", "threads", "batch", "scoring", "p50_ms", "cpu_ms", "p90_ms", "per_user_ms", "x_time_vs_smaller", "x_vs_batch1",
            "items_mb", "peak_rss_mb", "overhead_mb"]
    print(format_table(result["results"], cols))
    for g in result["goals"]:
        print(f"goal: {g['goal']}: measured {g['measured']:.3g} -> {'met' if g['met'] else 'MISSED'}")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
