"""ANN top-k (crossrec.model.ann): recall against the exact Ranker on clustered vectors, exact exclusion and
scores, save/load, refusal of corrupted or stale indexes, the missing-faiss error, and bundle integration."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossrec.errors import BundleError, ConfigError
from crossrec.model.ann import AnnConfig, AnnIndex
from crossrec.model.ranker import Ranker

REPO = Path(__file__).resolve().parents[1]
T = 0.1  # temperature


def clustered(n: int, dim: int, users: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters: (n, dim) items and (users, dim) users from the same mixture."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 100, dim)).astype(np.float32)
    draw = lambda m: (centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, dim))).astype(np.float32)  # noqa: E731
    return draw(n), draw(users)


@pytest.fixture(scope="module")
def data():
    pytest.importorskip("faiss")
    items, users = clustered(20000, 64, 200)
    rng = np.random.default_rng(1)
    exclude = [rng.choice(len(items), 50, replace=False) for _ in range(len(users))]
    scores, cols = Ranker(normalize=True, temperature=T).topk(torch.from_numpy(users), torch.from_numpy(items), 10, exclude)
    return items, users, exclude, scores.numpy(), cols.numpy()


@pytest.fixture(scope="module")
def indexes(data):
    items = data[0]
    return {kind: AnnIndex.build(items, AnnConfig(kind=kind), normalize=True) for kind in ("ivf", "hnsw")}


def exact_scores(users: np.ndarray, items: np.ndarray, cols: np.ndarray, normalize: bool) -> np.ndarray:
    """The Ranker's score of (user b, item cols[b, j]): cosine or dot, / T (computed with torch, as the Ranker)."""
    u, x = torch.from_numpy(users), torch.from_numpy(items)
    if normalize:
        u = F.normalize(u, dim=-1)
    full = (u @ x.T).numpy()
    if normalize:
        full = full / np.maximum(np.linalg.norm(items, axis=1), 1e-12)
    return np.take_along_axis(full, np.maximum(cols, 0), 1) / T


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_recall_at_10_on_clustered_vectors(data, indexes, kind) -> None:
    items, users, exclude, want_s, want = data
    scores, cols = indexes[kind].search(users, 10, exclude, temperature=T)
    assert scores.shape == cols.shape == (len(users), 10) and scores.dtype == np.float32 and cols.dtype == np.int64
    recall = np.mean([np.isin(want[b], cols[b]).mean() for b in range(len(users))])
    assert recall >= 0.98, f"{kind} recall@10 {recall:.4f}"
    assert all(not np.isin(cols[b], exclude[b]).any() for b in range(len(users)))
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    np.testing.assert_allclose(scores, exact_scores(users, items, cols, True), rtol=1e-5, atol=1e-5)
    found = want == cols  # same item at the same rank: the very same score as the exact Ranker's
    np.testing.assert_allclose(scores[found], want_s[found], rtol=1e-5, atol=1e-5)


def test_exclusion_is_exact_even_for_the_true_top(data, indexes) -> None:
    items, users, _, _, want = data
    ranker = Ranker(normalize=True, temperature=T)
    exclude = [np.concatenate([want[b], want[b][:3]]) for b in range(len(users))]  # the true top-10 (+ repeats)
    _, again = ranker.topk(torch.from_numpy(users), torch.from_numpy(items), 10, exclude)
    for index in indexes.values():
        _, cols = index.search(users, 10, exclude, temperature=T)
        assert not any(np.isin(cols[b], exclude[b]).any() for b in range(len(users)))
        assert np.mean([np.isin(again[b].numpy(), cols[b]).mean() for b in range(len(users))]) >= 0.95


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_dot_product_and_padding_match_the_ranker(kind) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    items, users = rng.standard_normal((6, 8)).astype(np.float32), rng.standard_normal((2, 8)).astype(np.float32)
    exclude = [np.array([0, 1, 2, 3]), np.array([], dtype=np.int64)]
    for normalize in (True, False):
        index = AnnIndex.build(items, AnnConfig(kind=kind), normalize=normalize)
        scores, cols = index.search(users, 10, exclude, temperature=T)  # k' = min(10, 6)
        want_s, want = Ranker(normalize=normalize, temperature=T).topk(torch.from_numpy(users), torch.from_numpy(items),
                                                                        10, exclude)
        assert cols.shape == (2, 6) and np.array_equal(cols, want.numpy())
        assert (cols[0, 2:] == -1).all() and np.isneginf(scores[0, 2:]).all()
        np.testing.assert_allclose(scores, want_s.numpy(), rtol=1e-5, atol=1e-5)


def test_save_load_round_trip_and_refusals(data, indexes, tmp_path) -> None:
    items, users, exclude, _, _ = data
    index = indexes["ivf"]
    path = index.save(tmp_path / "ann.faiss")
    meta = json.loads((tmp_path / "ann.json").read_text())
    assert meta["n_items"] == 20000 and meta["dim"] == 64 and meta["normalize"] and meta["config"]["kind"] == "ivf"
    assert index.memory_bytes > items.nbytes  # the index holds its own (unit) copy of the vectors
    want = index.search(users[:20], 10, exclude[:20], temperature=T)
    for loaded in (AnnIndex.load(path, items), AnnIndex.load(path, expect_n=20000, expect_d=64)):
        got = loaded.search(users[:20], 10, exclude[:20], temperature=T)
        assert np.array_equal(got[1], want[1]) and np.allclose(got[0], want[0], rtol=1e-5)
    with pytest.raises(BundleError, match=r"ann.faiss: ANN index has items 20000, expected 19999"):
        AnnIndex.load(path, items[:-1])
    with pytest.raises(BundleError, match=r"ann.faiss: ANN index has dim 64, expected 32"):
        AnnIndex.load(path, expect_d=32)
    (tmp_path / "ann.json").write_text(json.dumps({**meta, "config": {**meta["config"], "kind": "hnsw"}}))
    with pytest.raises(BundleError, match=r"ann.faiss: not the inner-product hnsw index its sidecar describes"):
        AnnIndex.load(path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(BundleError, match=r"ann.faiss: unreadable FAISS index"):
        AnnIndex.load(path)
    path.write_bytes(b"not a faiss index at all" * 10)
    with pytest.raises(BundleError, match=r"ann.faiss: unreadable FAISS index"):
        AnnIndex.load(path)
    (tmp_path / "ann.json").write_text("{")
    with pytest.raises(BundleError, match=r"ann.json: unreadable ANN index sidecar"):
        AnnIndex.load(path)


def test_missing_faiss_is_a_one_line_config_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    with pytest.raises(ConfigError, match=r"^ANN top-k needs faiss: pip install 'crossrec\[ann\]'$"):
        AnnIndex.build(np.ones((4, 2), dtype=np.float32))


def test_importing_model_modules_needs_no_faiss() -> None:
    code = "import sys, crossrec.model.ann, crossrec.model.bundle; assert 'faiss' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.fixture
def tiny_bundle(tmp_path):
    """A one-target bundle (7-item catalogue, cosine), as tests/model/test_bundle.py builds it."""
    import pandas as pd

    from crossrec.data.sequences import ItemIndex
    from crossrec.model.bundle import save_bundle
    from crossrec.model.config import ModelConfig
    from crossrec.model.recommender import CrossRecModel

    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(12)], "domain": ["books"] * 5 + ["movies"] * 7,
                          "text": [f"item {k}" for k in range(12)]})
    index = ItemIndex.from_items(items)
    torch.manual_seed(0)
    cfg = ModelConfig.from_dict({"tower": {"d_model": 16, "max_len": 5, "n_heads": 2}})
    model = CrossRecModel(cfg, torch.as_tensor(index.item_domain), len(index.domains), index.domain_id("movies"),
                          text_dim=8)
    model.item_tower.set_text_table(torch.randn(len(index.item_ids), 8))
    model.eval()
    return save_bundle(tmp_path / "bundle", index, {"movies": model}, {"movies": np.arange(7, dtype=np.float32)},
                       {"run_name": "t", "model": cfg.model_dump(mode="json")}, {"model_type": "bert"})


def test_bundle_gets_a_verified_ann_index_per_target(tiny_bundle) -> None:
    pytest.importorskip("faiss")
    from crossrec.model.bundle import ModelBundle, add_ann_indexes
    from crossrec.model.bundle_io import verify_bundle

    before = ModelBundle.load(tiny_bundle)
    assert before.target("movies").ann is None
    assert add_ann_indexes(tiny_bundle, min_items=8, log=lambda _m: None) == {}  # 7 items: skipped
    built = add_ann_indexes(tiny_bundle, AnnConfig(kind="hnsw"), targets=["movies"], log=lambda _m: None)
    assert built["movies"]["n_items"] == 7 and built["movies"]["kind"] == "hnsw" and built["movies"]["build_s"] >= 0
    manifest = verify_bundle(tiny_bundle)
    assert {"targets/movies/ann.faiss", "targets/movies/ann.json"} <= set(manifest["files"])
    bundle = ModelBundle.load(tiny_bundle)
    assert bundle.meta["ann"]["movies"]["kind"] == "hnsw" and bundle.version != before.version
    assert not list(tiny_bundle.parent.glob(".bundle.*"))  # no temporary copy left behind
    tm = bundle.target("movies")
    assert isinstance(tm.ann, AnnIndex) and tm.ann.n == 7 and tm.ann.normalize == tm.model.ranks_by_cosine
    users = torch.randn(3, tm.catalogue_vectors.shape[1])
    exclude = [np.array([0]), np.array([], dtype=np.int64), np.array([1, 2])]
    want_s, want = Ranker(normalize=True, temperature=T).topk(users, tm.catalogue_vectors, 5, exclude)
    got_s, got = tm.ann.search(users.numpy(), 5, exclude, temperature=T)
    assert np.array_equal(got, want.numpy()) and np.allclose(got_s, want_s.numpy(), rtol=1e-5, atol=1e-5)

    ann = tiny_bundle / "targets" / "movies" / "ann.faiss"
    ann.write_bytes(ann.read_bytes()[:-8])
    with pytest.raises(BundleError, match=r"ann.faiss: size"):
        ModelBundle.load(tiny_bundle)


def test_a_failed_build_leaves_the_bundle_as_it_was(tiny_bundle, monkeypatch) -> None:
    from crossrec.model.bundle import add_ann_indexes
    from crossrec.model.bundle_io import verify_bundle

    manifest = verify_bundle(tiny_bundle)

    def boom(*_a, **_k):
        raise RuntimeError("build failed")

    monkeypatch.setattr(AnnIndex, "build", boom)
    with pytest.raises(RuntimeError, match="build failed"):
        add_ann_indexes(tiny_bundle, log=lambda _m: None)
    assert verify_bundle(tiny_bundle)["bundle_hash"] == manifest["bundle_hash"]
    assert not (tiny_bundle / "targets" / "movies" / "ann.faiss").exists()
    assert not list(tiny_bundle.parent.glob(".bundle.*"))


def test_build_ann_job(tiny_bundle, capsys) -> None:
    pytest.importorskip("faiss")
    spec = importlib.util.spec_from_file_location("build_ann_job", REPO / "jobs" / "build_ann.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    assert job.main([str(tiny_bundle), "--kind", "ivf", "--nprobe", "4", "--nlist", "auto"]) == 0
    assert "movies: ivf over 7 x" in capsys.readouterr().out
    assert json.loads((tiny_bundle / "bundle.json").read_text())["ann"]["movies"]["nprobe"] == 4
    assert job.main([str(tiny_bundle), "--kind", "lsh"]) == 2
    assert "kind: Input should be 'hnsw' or 'ivf'" in capsys.readouterr().err


def test_search_settings_change_without_a_rebuild(data) -> None:
    items = data[0]
    index = AnnIndex.build(items[:5000], AnnConfig(kind="ivf", nprobe=1), normalize=True)
    assert index.tune(nprobe=8, candidates=2) is index and index.cfg.nprobe == 8 and index.cfg.candidates == 2
    with pytest.raises(ConfigError, match=r"AnnIndex.tune: nprobe: Input should be greater than or equal to 1"):
        index.tune(nprobe=0)
    with pytest.raises(ConfigError, match="only search-time settings"):
        index.tune(m=64)
