"""Model bundles: save → load gives identical scores and top-k; corruption and mismatches are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crossrec.data.sequences import ItemIndex
from crossrec.errors import BundleError
from crossrec.model.bundle import ModelBundle, save_bundle
from crossrec.model.config import ModelConfig
from crossrec.model.ranker import Ranker
from crossrec.model.recommender import CrossRecModel


@pytest.fixture
def saved(tmp_path):
    import pandas as pd

    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(12)],
                          "domain": ["books"] * 5 + ["movies"] * 7,
                          "text": [f"item {k}" for k in range(12)]})
    index = ItemIndex.from_items(items)
    torch.manual_seed(0)
    cfg = ModelConfig.from_dict({"tower": {"d_model": 16, "max_len": 5, "n_heads": 2}})
    model = CrossRecModel(cfg, torch.as_tensor(index.item_domain), len(index.domains),
                          index.domain_id("movies"), text_dim=8)
    model.item_tower.set_text_table(torch.randn(len(index.item_ids), 8))
    model.eval()
    pop = np.arange(7, dtype=np.float32)
    path = save_bundle(tmp_path / "bundle", index, {"movies": model}, {"movies": pop},
                       {"run_name": "t", "model": cfg.model_dump(mode="json")}, {"model_type": "bert"})
    return path, index, model


def test_round_trip_gives_identical_top_k(saved) -> None:
    path, index, model = saved
    loaded = ModelBundle.load(path)
    tm = loaded.target("movies")
    items = torch.as_tensor(index.lookup(["i0", "i7", "i2", "i9"]))[None, :]
    domains = torch.as_tensor(index.item_domain)[items]
    ranker = Ranker()
    with torch.no_grad():
        want = ranker.topk(model.user_vectors(items, domains), model.catalogue_vectors(), k=5)
        got = ranker.topk(tm.model.user_vectors(items, domains), tm.catalogue_vectors, k=5)
    assert torch.equal(want[1], got[1]) and torch.allclose(want[0], got[0])
    assert np.array_equal(loaded.item_index.item_ids, index.item_ids)
    assert loaded.version and loaded.meta["targets"] == ["movies"]
    cold = torch.as_tensor(index.lookup(["i0", "i1"]))[None, :]  # only source-domain history
    with torch.no_grad():
        _, top = ranker.topk(tm.model.user_vectors(cold, torch.as_tensor(index.item_domain)[cold]),
                             tm.catalogue_vectors, k=3)
    assert top.shape == (1, 3) and (top >= 0).all()


def test_corrupted_or_truncated_files_are_named(saved) -> None:
    path, _, _ = saved
    heads = path / "targets" / "movies" / "heads.safetensors"
    data = bytearray(heads.read_bytes())
    data[-1] ^= 0xFF
    heads.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"heads.safetensors: checksum mismatch"):
        ModelBundle.load(path)
    heads.write_bytes(bytes(data[:-10]))
    with pytest.raises(BundleError, match=r"heads.safetensors: size .* \(truncated\?\)"):
        ModelBundle.load(path)


def test_missing_pieces_and_unknown_targets(saved, tmp_path) -> None:
    path, _, _ = saved
    with pytest.raises(BundleError, match="not a crossrec bundle"):
        ModelBundle.load(tmp_path)
    with pytest.raises(BundleError, match="no target 'books'"):
        ModelBundle.load(path, targets=["books"])
    from crossrec.errors import ModelInputError

    with pytest.raises(ModelInputError, match=r"unknown target domain 'music'; this bundle serves \['movies'\]"):
        ModelBundle.load(path).target("music")
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest missing"):
        ModelBundle.load(path)


def test_bundle_with_heads_of_another_config_is_refused(saved) -> None:
    path, _, _ = saved
    meta = json.loads((path / "bundle.json").read_text())
    meta["model"]["tower"]["d_model"] = 32
    (path / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="does not match the bundle's model config"):
        ModelBundle.load(path, verify=False)
