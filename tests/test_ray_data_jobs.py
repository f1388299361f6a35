"""Ray Data jobs give the in-process jobs' results: item embedding (base backbone, synthetic items)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ray


def test_ray_data_item_embedding_matches_the_in_process_job(tmp_path, local_ray) -> None:
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from crossrec.data.dataset import save_dataset
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
    from crossrec.jobs.configs import EmbedItemsJobConfig
    from crossrec.jobs.runners import run_embed_items

    data = save_dataset(generate_synthetic(SyntheticConfig(n_users=30, n_items=12, n_topics=3, max_interactions=10,
                                                           seed=4)), tmp_path / "ds")
    local = run_embed_items(EmbedItemsJobConfig.from_dict({"dataset": str(data), "output": str(tmp_path / "local"),
                                                          "batch_size": 8}))
    counts = run_embed_items(EmbedItemsJobConfig.from_dict({"dataset": str(data), "output": str(tmp_path / "rd"),
                                                           "batch_size": 8, "engine": "ray_data", "actors": 2}))
    assert counts == local
    got = pads.dataset(tmp_path / "rd", format="parquet").to_table().to_pydict()
    by_id = {(d, i): np.asarray(e, dtype=np.float32) for d, i, e in zip(got["domain"], got["item_id"], got["embedding"],
                                                                        strict=True)}
    assert len(by_id) == sum(local.values())
    for domain in local:
        ids = pq.read_table(tmp_path / "local" / domain / "item_ids.parquet").column("item_id").to_pylist()
        emb = np.load(tmp_path / "local" / domain / "embeddings.npy")
        assert np.allclose(np.stack([by_id[(domain, i)] for i in ids]), emb, atol=1e-5)
