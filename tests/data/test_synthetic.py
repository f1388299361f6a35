"""The synthetic generator: deterministic, valid, with cold users, textual and sequential signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.data.dataset import load_dataset, save_dataset
from crossrec.data.split import split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
from crossrec.errors import ConfigError
from crossrec.eval.baselines.mostpop import MostPop
from crossrec.eval.metrics import evaluate_scores
from crossrec.eval.protocol import make_history_batch, target_columns, visible_target_mask


def test_deterministic_and_seed_dependent() -> None:
    a, b = generate_synthetic(), generate_synthetic()
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    c = generate_synthetic(SyntheticConfig(seed=1))
    assert not a.interactions["item_id"].equals(c.interactions["item_id"])


def test_defaults_are_small_and_valid(tmp_path: Path) -> None:
    ds = generate_synthetic()
    counts = ds.counts()
    assert counts["domains"] == 4 and counts["users"] <= 300 and counts["items"] <= 4 * 60
    assert not ds.interactions.duplicated(["user_id", "item_id"]).any()
    back = load_dataset(save_dataset(ds, tmp_path / "syn"))
    assert back.counts() == counts


def test_cold_users_exist_in_every_domain() -> None:
    ds = generate_synthetic()
    for target in ds.domains:
        summary = split_target(ds, target).summary()
        assert summary["cold_zero"] > 0 and summary["cold"] > summary["cold_zero"] and summary["warm"] > 0


def test_item_texts_carry_topic_words() -> None:
    items = generate_synthetic().items
    words = items["text"].str.lower().str.findall(r"[a-z]+").map(lambda w: set(w) - {"a", "item", "about", "and"})
    topic = items["topic"].to_numpy()
    same, other = [], []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            overlap = len((words[i] - {items["domain"][i]}) & (words[j] - {items["domain"][j]}))
            (same if topic[i] == topic[j] else other).append(overlap)
    assert np.mean(same) > 0.5 and np.mean(other) == 0.0  # each topic has its own vocabulary


def _recent_topic_ndcg(split, items: pd.DataFrame, test: pd.DataFrame) -> float:
    """A 10-line 'sequence model': score target items by the topics of the last 3 visible interactions."""
    topic = np.zeros(len(split.item_index), dtype=np.int64)
    topic[split.item_index.lookup(items["item_id"])] = items["topic"].to_numpy()
    batch = make_history_batch(split, test, max_len=3)
    recent = np.zeros((len(test), topic.max() + 1))
    np.add.at(recent, (np.repeat(np.arange(len(test)), 3), topic[batch.items.ravel()]), (batch.items.ravel() > 0))
    pop = MostPop()
    pop.fit(split)
    scores = recent[:, topic[split.target_items]] + 1e-3 * pop.score(batch)
    result = evaluate_scores(scores, target_columns(split, test["item_idx"]), visible_target_mask(split, test))
    return result["overall"]["ndcg@10"]


@pytest.mark.parametrize("target", ["books", "music"])
def test_sequential_signal_beats_popularity(target: str) -> None:
    ds = generate_synthetic(SyntheticConfig(n_users=600))
    split = split_target(ds, target)
    test = split.role("test")
    pop = MostPop()
    pop.fit(split)
    batch = make_history_batch(split, test, max_len=3)
    base = evaluate_scores(pop.score(batch), target_columns(split, test["item_idx"]),
                           visible_target_mask(split, test))["overall"]["ndcg@10"]
    assert _recent_topic_ndcg(split, ds.items, test) > 1.8 * base


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="n_items"):
        SyntheticConfig.from_dict({"n_items": 3, "n_topics": 6})
    with pytest.raises(ConfigError, match="n_userz"):
        SyntheticConfig.from_dict({"n_userz": 3})
