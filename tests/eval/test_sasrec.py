"""SASRec baselines (target-only and merged) on tiny synthetic data: shapes, no leakage, learning, seeds."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from crossrec.data.history import compact_left
from crossrec.data.split import TargetSplit, split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
from crossrec.eval.baselines.mostpop import MostPop
from crossrec.eval.baselines.sasrec import SASRec
from crossrec.eval.protocol import HistoryBatch, Recommender, make_history_batch
from crossrec.eval.runner import evaluate

SMALL = {"d_model": 16, "n_heads": 2, "max_len": 12, "batch_size": 64, "lr": 3e-3, "dropout": 0.1,
         "progress": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread (and do not oversubscribe a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def split() -> TargetSplit:
    """Strong topic stickiness: the recent history predicts the next item much better than popularity."""
    ds = generate_synthetic(SyntheticConfig(n_users=160, n_items=30, n_topics=5, topic_stickiness=0.9,
                                            max_interactions=40, seed=3))
    return split_target(ds, "movies")


def _fit(split: TargetSplit, **kw) -> SASRec:
    model = SASRec(**{**SMALL, "max_epochs": 2, "patience": 100, **kw})
    model.fit(split)
    return model


@pytest.mark.parametrize("mode", ["target", "merged"])
def test_scores_cover_exactly_the_target_catalogue(split: TargetSplit, mode: str) -> None:
    model = _fit(split, mode=mode, max_epochs=1)
    assert isinstance(model, Recommender)
    rows = split.role("test").iloc[:17]
    scores = model.score(make_history_batch(split, rows, model.eval_max_len))
    assert scores.shape == (17, len(split.target_items)) and np.isfinite(scores).all()
    vocab = model.net.item_emb.num_embeddings - 1
    assert vocab == (len(split.target_items) if mode == "target" else split.item_index.n_items)
    # the score columns are the target items' own logits, in catalogue order
    batch = make_history_batch(split, rows.iloc[:1], model.eval_max_len)
    with torch.no_grad():
        ids = model.vocab[batch.items]
        hidden = model.net(torch.as_tensor(compact_left(ids, ids > 0, model.max_len)))[:, -1]
        full = model.net.logits(hidden).numpy()[0]  # (V,) over vocabulary ids 1..V
    assert np.allclose(scores[0], full[model.vocab[split.target_items] - 1], atol=1e-5)
    assert model.fit_stats["epochs"] == 1 and model.fit_stats["fit_seconds"] > 0


def test_target_mode_reads_only_target_items(split: TargetSplit) -> None:
    model = _fit(split, mode="target", max_epochs=1)
    items = np.array([[0, 0, 0, int(split.target_items[4])]])
    other = np.flatnonzero(split.item_index.item_domain != split.item_index.domain_id("movies"))[1:4]
    mixed = np.array([[int(other[0]), int(split.target_items[4]), int(other[1]), int(other[2])]])
    a, b = (model.score(HistoryBatch(x, split.item_index.item_domain[x], np.array(["u"]))) for x in (items, mixed))
    assert np.allclose(a, b)
    empty = model.score(HistoryBatch(np.zeros((1, 3), dtype=np.int64), np.zeros((1, 3), dtype=np.int64),
                                     np.array(["u"])))
    assert np.array_equal(empty[0], model.fallback)


@pytest.mark.parametrize("mode", ["target", "merged"])
def test_training_never_reads_held_out_interactions(split: TargetSplit, mode: str) -> None:
    """Scrambling every interaction at or after a user's train cutoff, and every test label, changes nothing."""
    rng = np.random.default_rng(0)
    leaky = copy.copy(split)
    leaky.sequences = copy.copy(split.sequences)
    seq = split.sequences
    after = (np.arange(len(seq.items)) - np.repeat(seq.offsets[:-1], seq.lengths)) >= np.repeat(split.train_cutoff,
                                                                                                 seq.lengths)
    assert after.sum() >= len(split.role("test"))
    items = seq.items.copy()
    items[after] = rng.choice(split.target_items, int(after.sum()))
    leaky.sequences.items = items
    leaky.sequences.domains = split.item_index.item_domain[items]
    leaky.examples = split.examples.copy()
    test = leaky.examples["role"] == "test"
    leaky.examples.loc[test, "item_idx"] = rng.choice(split.target_items, int(test.sum()))
    a, b = _fit(split, mode=mode), _fit(leaky, mode=mode)
    batch = make_history_batch(split, split.role("test"), a.eval_max_len)
    assert np.array_equal(a.score(batch), b.score(batch))
    assert a.fit_stats["valid_ndcg10"] == b.fit_stats["valid_ndcg10"]


def test_learns_sequential_signal_and_beats_mostpop(split: TargetSplit) -> None:
    model = _fit(split, mode="merged", max_epochs=8)
    losses = model.fit_stats["losses"]
    assert losses[-1] < losses[0] - 0.3
    assert model.fit_stats["best_epoch"] > 1
    mostpop = MostPop()
    mostpop.fit(split)
    ndcg = evaluate(model, split, "test", max_len=model.eval_max_len, progress=False).metrics["overall"]["ndcg@10"]
    base = evaluate(mostpop, split, "test", progress=False).metrics["overall"]["ndcg@10"]
    assert ndcg > base + 0.1, (ndcg, base)


def test_same_seed_same_model_other_seed_differs(split: TargetSplit) -> None:
    batch = make_history_batch(split, split.role("test"), 12)
    a, b, c = (_fit(split, mode="merged", max_epochs=1, seed=s).score(batch) for s in (5, 5, 6))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_wall_time_cap_and_patience_stop_training(split: TargetSplit) -> None:
    capped = _fit(split, mode="merged", max_epochs=50, max_minutes=1e-6)
    assert capped.fit_stats["stopped"] == "max_minutes" and capped.fit_stats["epochs"] == 1
    patient = _fit(split, mode="target", max_epochs=50, patience=1, lr=0.3)
    assert patient.fit_stats["stopped"] == "patience" and patient.fit_stats["epochs"] < 50
    best = patient.fit_stats["best_epoch"]
    assert patient.fit_stats["best_valid_ndcg10"] == max(patient.fit_stats["valid_ndcg10"])
    assert patient.fit_stats["valid_ndcg10"][best - 1] == patient.fit_stats["best_valid_ndcg10"]


def test_bad_arguments_and_unfitted_scoring_fail_clearly() -> None:
    with pytest.raises(ValueError, match="mode"):
        SASRec(mode="joint")
    with pytest.raises(ValueError, match="divisible"):
        SASRec(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="max_epochs"):
        SASRec(max_epochs=0)
    with pytest.raises(RuntimeError, match="fit"):
        SASRec().score(HistoryBatch(np.ones((1, 2), dtype=np.int64), np.ones((1, 2), dtype=np.int64), np.array(["u"])))
