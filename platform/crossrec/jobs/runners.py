"""What each non-training job does (called by ``jobs/*.py``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from crossrec.jobs.configs import BatchRecommendJobConfig, EmbedItemsJobConfig, EvaluateJobConfig
from crossrec.utils.progress import Progress
from crossrec.utils.storage import is_uri, join, write_bytes, write_parquet, write_text


def run_evaluate(cfg: EvaluateJobConfig) -> dict:
    from crossrec.eval.bundle_eval import evaluate_bundle

    results = {}
    for target in cfg.targets:
        preds = None
        local_preds = None
        if cfg.write_predictions:
            local_preds = Path(cfg.output if not is_uri(cfg.output) else "/tmp") / f".{target}.predictions.jsonl"
        report = evaluate_bundle(cfg.bundle, cfg.dataset, target, role=cfg.role, predictions_out=local_preds,
                                 top_k=cfg.top_k)
        print(report.to_table_text(), flush=True)
        if local_preds is not None:
            preds = join(cfg.output, f"{target}.predictions.jsonl")
            write_text(preds, local_preds.read_text())
            local_preds.unlink()
        write_text(join(cfg.output, f"{target}.metrics.json"), report.to_json())
        results[target] = report.metrics
    write_text(join(cfg.output, "metrics.json"), json.dumps(results, indent=2) + "\n")
    print(f"metrics written to {join(cfg.output, 'metrics.json')}")
    return results


def run_batch_recommend(cfg: BatchRecommendJobConfig) -> str:
    if cfg.engine == "ray_data":
        from crossrec.jobs.batch_data import recommend_with_ray_data
        from crossrec.train.run import ensure_ray

        ensure_ray()
        stats = recommend_with_ray_data(cfg.bundle, cfg.dataset, cfg.target, cfg.output, k=cfg.k,
                                        batch_size=cfg.batch_size, exclude_seen=cfg.exclude_seen,
                                        explain_n=cfg.explain_n, actors=cfg.actors, gpus_per_actor=cfg.gpus_per_actor)
        print(f"{stats.rows} recommendations for {stats.users} users -> {cfg.output} ({stats.actors} actor(s), "
              f"{stats.users_per_s:.0f} users/s)")
        return cfg.output
    from crossrec.jobs.batch_recommend import recommend_all_users

    table = recommend_all_users(cfg.bundle, cfg.dataset, cfg.target, k=cfg.k, batch_size=cfg.batch_size,
                                exclude_seen=cfg.exclude_seen, explain_n=cfg.explain_n)
    write_parquet(table, cfg.output)
    print(f"{table.num_rows} recommendations for {len(set(table.column('user_id').to_pylist()))} users -> {cfg.output}")
    return cfg.output


def run_embed_items(cfg: EmbedItemsJobConfig) -> dict[str, int]:
    """Embed every item of the chosen domains with its domain adapter (base backbone when none)."""
    import torch

    from crossrec.data.dataset import load_dataset
    from crossrec.model.adapters import DomainAdapters
    from crossrec.model.backbone import load_backbone
    from crossrec.model.item_encoder import ItemTextEncoder

    ds = load_dataset(cfg.dataset)
    backbone = load_backbone(cfg.backbone)
    adapters = DomainAdapters(backbone)
    if cfg.bundle:
        for adapter_dir in sorted((Path(cfg.bundle) / "adapters").glob("*")):
            adapters.load(adapter_dir.name, adapter_dir)
    encoder = ItemTextEncoder(backbone, adapters)
    counts = {}
    for domain in cfg.domains or ds.domains:
        items = ds.items[ds.items["domain"] == domain]
        texts = items["text"].astype(str).tolist()

        with torch.no_grad(), Progress(f"embedding {domain}", len(texts)) as bar:
            emb = encoder.encode(texts, domain=domain, batch_size=cfg.batch_size,
                                 progress=lambda done, _total, bar=bar: bar.update(done)).numpy()
        buf = io.BytesIO()
        np.save(buf, emb.astype(np.float32), allow_pickle=False)
        write_bytes(join(cfg.output, domain, "embeddings.npy"), buf.getvalue())
        write_parquet(pa.table({"item_id": pa.array(items["item_id"].astype(str).tolist(), pa.string())}),
                      join(cfg.output, domain, "item_ids.parquet"))
        counts[domain] = len(texts)
    print(f"embedded {sum(counts.values())} items -> {cfg.output}")
    return counts

