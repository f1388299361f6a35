"""Embedding cache: hits, misses, growth, keys by adapter version."""

from __future__ import annotations

import numpy as np

from crossrec.model.embedding_cache import EmbeddingCache, cache_key


def test_only_missing_items_are_encoded(tmp_path) -> None:
    calls: list[list[str]] = []

    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path, "k")
    first = cache.get_or_compute(["a", "b"], ["x", "yy"], encode)
    assert (cache.hits, cache.misses) == (0, 2)
    again = EmbeddingCache(tmp_path, "k").get_or_compute(["b", "a", "c"], ["yy", "x", "zzz"], encode)
    assert calls == [["x", "yy"], ["zzz"]]
    assert np.array_equal(again[:2], first[::-1]) and again[2, 0] == 3


def test_keys_differ_by_adapter_version_and_backbone() -> None:
    ident = {"model_type": "bert", "config_sha256": "abc"}
    assert cache_key(ident, None, 32) != cache_key(ident, "v1", 32)
    assert cache_key(ident, "v1", 32) != cache_key(ident, "v2", 32)
    assert cache_key(ident, None, 32) != cache_key({**ident, "config_sha256": "def"}, None, 32)
