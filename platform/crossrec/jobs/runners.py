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
    if cfg.engine == "ray_data":
        from crossrec.jobs.eval_data import evaluate_with_ray_data
        from crossrec.train.run import ensure_ray

        ensure_ray()
    for target in cfg.targets:
        if cfg.engine == "ray_data":
            report = evaluate_with_ray_data(cfg.bundle, cfg.dataset, target, role=cfg.role, actors=cfg.actors,
                                            gpus_per_actor=cfg.gpus_per_actor)
            print(report.to_table_text(), flush=True)
            write_text(join(cfg.output, f"{target}.metrics.json"), report.to_json())
            results[target] = report.metrics
            continue
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


def item_encoder(backbone_cfg, bundle: str | None):
    """The backbone with the bundle's domain adapters (base backbone only without a bundle)."""
    from crossrec.model.adapters import DomainAdapters
    from crossrec.model.backbone import load_backbone
    from crossrec.model.item_encoder import ItemTextEncoder

    backbone = load_backbone(backbone_cfg)
    adapters = DomainAdapters(backbone)
    if bundle:
        from crossrec.utils.storage import stage

        for adapter_dir in sorted((stage(bundle) / "adapters").glob("*")):  # a URI is staged first
            adapters.load(adapter_dir.name, adapter_dir)
    return ItemTextEncoder(backbone, adapters)


class ItemEmbedder:
    """Ray Data actor: (item_id, domain, text) rows → (item_id, domain, embedding list<float32> (H,)) with the
    domain's adapter; the backbone and adapters load once per actor."""

    def __init__(self, backbone: dict, bundle: str | None, batch_size: int, threads: int | None = None) -> None:
        import torch

        from crossrec.model.config import BackboneConfig

        if threads:
            torch.set_num_threads(threads)
        self.encoder = item_encoder(BackboneConfig.from_dict(backbone), bundle)
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        import torch

        rows = batch.to_pydict()
        out = np.zeros((batch.num_rows, self.encoder.backbone.hidden_size), dtype=np.float32)
        domains = np.asarray(rows["domain"], dtype=object)
        for domain in sorted(set(rows["domain"])):
            idx = np.flatnonzero(domains == domain)
            with torch.no_grad():
                out[idx] = self.encoder.encode([str(rows["text"][i]) for i in idx], domain=domain,
                                               batch_size=self.batch_size).numpy()
        dim = out.shape[1]
        return pa.table({"item_id": pa.array([str(i) for i in rows["item_id"]], pa.string()),
                         "domain": pa.array(rows["domain"], pa.string()),
                         "embedding": pa.FixedSizeListArray.from_arrays(pa.array(out.reshape(-1), pa.float32()), dim)})


def embed_items_ray_data(cfg: EmbedItemsJobConfig) -> dict[str, int]:
    """Item embedding as a Ray Data pipeline: items → ``cfg.actors`` :class:`ItemEmbedder` actors → Parquet parts
    (item_id, domain, embedding) streamed to ``cfg.output`` (a directory or URI)."""
    import ray

    from crossrec.data.dataset import load_dataset
    from crossrec.train.run import ensure_ray

    ds = load_dataset(cfg.dataset)
    items = ds.items[ds.items["domain"].isin(cfg.domains or ds.domains)]
    table = pa.table({"item_id": pa.array(items["item_id"].astype(str).tolist(), pa.string()),
                      "domain": pa.array(items["domain"].astype(str).tolist(), pa.string()),
                      "text": pa.array(items["text"].astype(str).tolist(), pa.string())})
    ensure_ray()
    step = cfg.batch_size * 4
    blocks = [table.slice(s, step) for s in range(0, table.num_rows, step)] or [table]
    kwargs = {"backbone": cfg.backbone.model_dump(mode="json"), "bundle": cfg.bundle, "batch_size": cfg.batch_size,
              "threads": 1}
    ray.data.from_arrow(blocks).map_batches(
        ItemEmbedder, fn_constructor_kwargs=kwargs, batch_size=step, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cfg.actors), num_cpus=1 if cfg.gpus_per_actor == 0 else 0,
        num_gpus=cfg.gpus_per_actor).write_parquet(cfg.output, ray_remote_args={"num_cpus": 0})
    from crossrec.jobs.batch_data import mark_complete

    mark_complete(cfg.output)
    counts = items.groupby("domain").size().astype(int).to_dict()
    print(f"embedded {sum(counts.values())} items -> {cfg.output} ({cfg.actors} actor(s))")
    return counts


def run_embed_items(cfg: EmbedItemsJobConfig) -> dict[str, int]:
    """Embed every item of the chosen domains with its domain adapter (base backbone when none)."""
    import torch

    from crossrec.data.dataset import load_dataset

    if cfg.engine == "ray_data":
        return embed_items_ray_data(cfg)
    ds = load_dataset(cfg.dataset)
    encoder = item_encoder(cfg.backbone, cfg.bundle)
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

