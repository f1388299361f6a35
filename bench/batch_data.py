"""Batch inference throughput: all-user top-k in-process vs on Ray Data with 1 and 2 scoring actors.

    python bench/batch_data.py [--quality-config bench/configs/quality_ml1m.yaml]
        [--bundle runs/explanations/ml1m_family-af9addc4eab7.bundle] [--target family] [--actors 1,2]
        [--k 10] [--batch-size 512] [--out docs/results/batch_data.json]

The dataset is the quality config's (imported once to a temporary canonical directory); every path writes the
same rows (checked: row counts equal). Ray Data streams Parquet parts to a directory (any URI works the same);
its time includes starting the actors and loading the bundle in each, so it is an end-to-end job time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality-config", default="bench/configs/quality_ml1m.yaml")
    ap.add_argument("--bundle", default="runs/explanations/ml1m_family-af9addc4eab7.bundle")
    ap.add_argument("--target", default="family")
    ap.add_argument("--actors", default="1,2", help="Comma-separated actor counts.")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--out", default="docs/results/batch_data.json")
    args = ap.parse_args(argv)

    import ray

    from crossrec.benchmarks.quality_config import QualityConfig
    from crossrec.benchmarks.quality_run import load_benchmark_dataset
    from crossrec.benchmarks.results import format_table, write_json
    from crossrec.data.dataset import save_dataset
    from crossrec.jobs.batch_data import recommend_with_ray_data
    from crossrec.jobs.batch_recommend import recommend_all_users
    from crossrec.utils.io import atomic_write_text

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = str(save_dataset(load_benchmark_dataset(QualityConfig.from_yaml(args.quality_config)), Path(tmp) / "ds"))
        t0 = time.perf_counter()
        table = recommend_all_users(args.bundle, data, args.target, k=args.k, batch_size=args.batch_size, progress=False)
        seconds = time.perf_counter() - t0
        users = len(set(table.column("user_id").to_pylist()))
        rows.append({"path": "in-process", "actors": "-", "users": users, "rows": table.num_rows,
                     "seconds": seconds, "users_per_s": users / seconds})
        ray.init(address="local", num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False,
                 log_to_driver=False)
        try:
            for actors in [int(a) for a in args.actors.split(",")]:
                stats = recommend_with_ray_data(args.bundle, data, args.target, str(Path(tmp) / f"out-{actors}"),
                                                k=args.k, batch_size=args.batch_size, actors=actors)
                assert stats.rows == table.num_rows, (stats.rows, table.num_rows)
                rows.append({"path": "ray-data", "actors": actors, "users": stats.users, "rows": stats.rows,
                             "seconds": stats.seconds, "users_per_s": stats.users_per_s})
        finally:
            ray.shutdown()
    base = rows[0]["users_per_s"]
    for r in rows:
        r["x_in_process"] = r["users_per_s"] / base
    cols = ["path", "actors", "users", "rows", "seconds", "users_per_s", "x_in_process"]
    text = format_table(rows, cols)
    print(text)
    command = (f"python bench/batch_data.py --quality-config {args.quality_config} --bundle {args.bundle} "
               f"--target {args.target} --actors {args.actors} --k {args.k} --batch-size {args.batch_size}")
    out = write_json(args.out, {"command": command, "target": args.target, "results": rows})
    atomic_write_text(out.with_suffix(".md"), f"# Batch recommendation: in-process vs Ray Data actors\n\n"
                      f"`{command}`\n\n{text}\n\nCPU actors (1 CPU each) on this 2-core machine; the Ray Data time "
                      f"includes starting the actors and loading the bundle in each. No GPU machine was lent for "
                      f"this run (`gpus_per_actor` puts one GPU per actor).\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
