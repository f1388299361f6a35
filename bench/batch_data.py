"""Batch inference throughput: all-user top-k, item embedding and evaluation scoring, in-process vs on Ray Data
with 1 and 2 actors.

    python bench/batch_data.py [--quality-config bench/configs/quality_ml1m.yaml]
        [--bundle runs/explanations/ml1m_family-af9addc4eab7.bundle] [--target family] [--actors 1,2]
        [--k 10] [--batch-size 512] [--out docs/results/batch_data.json]

The dataset is the quality config's (imported once to a temporary canonical directory); every path writes the
same rows (checked: row counts equal). Item embedding runs the base backbone (all-MiniLM-L6-v2, fp32) over every
item's text. Ray Data streams Parquet parts to a directory (any URI works the same);
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
        actor_counts = [int(a) for a in args.actors.split(",")]
        try:
            for actors in actor_counts:
                stats = recommend_with_ray_data(args.bundle, data, args.target, str(Path(tmp) / f"out-{actors}"),
                                                k=args.k, batch_size=args.batch_size, actors=actors)
                assert stats.rows == table.num_rows, (stats.rows, table.num_rows)
                rows.append({"path": "ray-data", "actors": actors, "users": stats.users, "rows": stats.rows,
                             "seconds": stats.seconds, "users_per_s": stats.users_per_s})
            embed_rows = embedding_rows(data, Path(tmp), actor_counts)
            eval_rows = evaluation_rows(args.bundle, data, args.target, actor_counts)
        finally:
            ray.shutdown()
    base = rows[0]["users_per_s"]
    for r in rows:
        r["x_in_process"] = r["users_per_s"] / base
    cols = ["path", "actors", "users", "rows", "seconds", "users_per_s", "x_in_process"]
    text = format_table(rows, cols)
    embed_text = format_table(embed_rows, ["path", "actors", "items", "seconds", "items_per_s", "x_in_process"])
    eval_text = format_table(eval_rows, ["path", "actors", "users", "seconds", "users_per_s", "x_in_process",
                                         "ndcg_at_10"])
    print(text + "\n\n" + embed_text + "\n\n" + eval_text)
    command = (f"python bench/batch_data.py --quality-config {args.quality_config} --bundle {args.bundle} "
               f"--target {args.target} --actors {args.actors} --k {args.k} --batch-size {args.batch_size}")
    out = write_json(args.out, {"command": command, "target": args.target, "results": rows, "embedding": embed_rows,
                                 "evaluation": eval_rows})
    atomic_write_text(out.with_suffix(".md"), f"# Batch inference: in-process vs Ray Data actors\n\n"
                      f"`{command}`\n\nAll-user top-{args.k} ({args.target}):\n\n{text}\n\nItem embedding (base "
                      f"backbone, every item):\n\n{embed_text}\n\nEvaluation scoring (test role, full ranking; the metrics are identical):\n\n{eval_text}\n\nCPU actors (1 CPU each) on this 2-core machine; the Ray Data time "
                      f"includes starting the actors and loading the bundle in each. No GPU machine was lent for "
                      f"this run (`gpus_per_actor` puts one GPU per actor).\n")
    return 0


def evaluation_rows(bundle: str, data: str, target: str, actor_counts: list[int]) -> list[dict]:
    """Test-role evaluation: the in-process scorer, then Ray Data actors (same metrics, checked)."""
    from crossrec.eval.bundle_eval import evaluate_bundle
    from crossrec.jobs.eval_data import evaluate_with_ray_data

    out = []
    want = None
    for actors in [0, *actor_counts]:
        t0 = time.perf_counter()
        report = (evaluate_with_ray_data(bundle, data, target, actors=actors) if actors
                  else evaluate_bundle(bundle, data, target))
        seconds = time.perf_counter() - t0
        want = want or report.metrics
        assert report.metrics == want, "Ray Data evaluation differs from the in-process one"
        users = report.metrics["overall"]["n_users"]
        out.append({"path": "ray-data" if actors else "in-process", "actors": actors or "-", "users": users,
                    "seconds": seconds, "users_per_s": users / seconds,
                    "ndcg_at_10": report.metrics["overall"]["ndcg@10"]})
    for r in out:
        r["x_in_process"] = r["users_per_s"] / out[0]["users_per_s"]
    return out


def embedding_rows(data: str, tmp: Path, actor_counts: list[int]) -> list[dict]:
    """Item embedding throughput (every item, base backbone): the in-process job, then Ray Data actors."""
    from crossrec.jobs.configs import EmbedItemsJobConfig
    from crossrec.jobs.runners import run_embed_items

    out = []
    for actors in [0, *actor_counts]:  # 0: in-process
        cfg = {"dataset": data, "output": str(tmp / f"emb-{actors}"), "batch_size": 128}
        if actors:
            cfg.update(engine="ray_data", actors=actors)
        t0 = time.perf_counter()
        counts = run_embed_items(EmbedItemsJobConfig.from_dict(cfg))
        seconds = time.perf_counter() - t0
        n = sum(counts.values())
        out.append({"path": "ray-data" if actors else "in-process", "actors": actors or "-", "items": n,
                    "seconds": seconds, "items_per_s": n / seconds})
    for r in out:
        r["x_in_process"] = r["items_per_s"] / out[0]["items_per_s"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
