"""Item encoding throughput: length-sorted vs unsorted batches, and the embedding-cache hit path.

    python bench/item_encoding.py [--items data/ml-1m/items.parquet] [--precision fp32] [--batch-size 64]
                                  [--threads N] [--quick] [--out docs/results/item_encoding.json]

Encodes every item text (ML-1M: 3,883 titles with year and genres) with :class:`ItemTextEncoder` — what the
embedding job (``jobs/embed_items.py``) and the training text table run — once with batches grouped by length
(the default) and once in input order, and reports items/s, tokens/s and the share of padded tokens. Then
:class:`EmbeddingCache` in a fresh directory: the first call encodes and writes (miss), the second reads (hit).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from crossrec.benchmarks.results import format_table, write_json
from crossrec.model.backbone import load_backbone
from crossrec.model.config import BackboneConfig
from crossrec.model.embedding_cache import EmbeddingCache
from crossrec.model.item_encoder import ItemTextEncoder


def item_texts(path: str | None, quick: bool) -> tuple[list[str], list[str]]:
    """(item ids, texts) of a canonical items.parquet, or synthetic ones for --quick."""
    if quick:
        from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

        items = generate_synthetic(SyntheticConfig(n_users=10, n_items=30, seed=2)).items
    else:
        import pandas as pd

        items = pd.read_parquet(path)
    return items["item_id"].astype(str).tolist(), items["text"].astype(str).tolist()


def padding(encoder: ItemTextEncoder, texts: list[str], batch_size: int, sort: bool) -> tuple[int, int]:
    """(real tokens, padded tokens) that ``encode`` feeds the backbone with this batching."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else range(len(texts))
    order = list(order)
    real = padded = 0
    for start in range(0, len(order), batch_size):
        mask = encoder.backbone.tokenize([texts[i] for i in order[start : start + batch_size]])["attention_mask"]
        real, padded = real + int(mask.sum()), padded + int(mask.numel())
    return real, padded


def timed(fn) -> tuple[float, float, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="data/ml-1m/items.parquet", help="canonical items.parquet (text column)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8", "nf4"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=32, help="tokenizer max_length (the ML-1M run's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="120 synthetic item texts")
    ap.add_argument("--out", default="docs/results/item_encoding.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ids, texts = item_texts(args.items, args.quick)
    backbone = load_backbone(BackboneConfig(precision=args.precision, max_length=args.max_length))
    encoder = ItemTextEncoder(backbone)
    with torch.no_grad():
        encoder.encode(texts[: args.batch_size], batch_size=args.batch_size)  # warm-up
    rows, ref = [], None
    for sort in (True, False):
        def run(sort: bool = sort) -> torch.Tensor:
            with torch.no_grad():
                return encoder.encode(texts, batch_size=args.batch_size, sort_by_length=sort)

        wall, cpu, emb = timed(run)
        real, padded = padding(encoder, texts, args.batch_size, sort)
        ref = emb if ref is None else ref
        rows.append({"path": "encode, batches sorted by length" if sort else "encode, input order",
                     "items": len(texts), "seconds": wall, "cpu_s": cpu, "items_per_s": len(texts) / wall,
                     "items_per_cpu_s": len(texts) / cpu, "tokens_per_s": real / wall,
                     "padded_share": 1 - real / padded, "max_abs_diff_vs_sorted": float((emb - ref).abs().max())})
    with tempfile.TemporaryDirectory() as root:
        cache = EmbeddingCache(root, "bench")

        def encode(batch: list[str]) -> np.ndarray:
            with torch.no_grad():
                return encoder.encode(batch, batch_size=args.batch_size).numpy()

        for label in ("cache miss (encode + write)", "cache hit (read)"):
            wall, cpu, emb = timed(lambda: cache.get_or_compute(ids, texts, encode))
            rows.append({"path": label, "items": len(texts), "seconds": wall, "cpu_s": cpu,
                         "items_per_s": len(texts) / wall, "items_per_cpu_s": len(texts) / cpu,
                         "hits": cache.hits, "misses": cache.misses,
                         "max_abs_diff_vs_sorted": float(np.abs(emb - ref.numpy()).max())})
    for r in rows:
        r["threads"] = torch.get_num_threads()
    sorted_row, unsorted_row = rows[0], rows[1]
    result = {"precision": args.precision, "batch_size": args.batch_size, "max_length": args.max_length,
              "threads": torch.get_num_threads(), "n_items": len(texts),
              "items_source": "synthetic" if args.quick else args.items, "results": rows,
              "sorted_speedup": sorted_row["items_per_s"] / unsorted_row["items_per_s"],
              "cache_hit_speedup": rows[3]["items_per_s"] / sorted_row["items_per_s"],
              "command": "python bench/item_encoding.py" + (" --quick" if args.quick else "")
              + (f" --threads {args.threads}" if args.threads else "")}
    print(format_table(rows, ["path", "items", "seconds", "cpu_s", "items_per_s", "items_per_cpu_s",
                              "tokens_per_s", "padded_share", "max_abs_diff_vs_sorted"]))
    print(f"sorted / unsorted: {result['sorted_speedup']:.2f}x; cache hit / encode: {result['cache_hit_speedup']:.0f}x")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
