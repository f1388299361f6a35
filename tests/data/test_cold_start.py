"""Item cold start: the hidden items leave every training reader (prefixes, windows, counts, SASRec, MostPop)
while the held-out examples and the evaluation histories keep them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossrec.data.cold_start import hide_target_items, new_item_examples, unseen_items
from crossrec.data.split import load_split, split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
from crossrec.data.windows import IGNORE_LABEL, build_train_windows
from crossrec.errors import DataValidationError


@pytest.fixture(scope="module")
def plain():
    ds = generate_synthetic(SyntheticConfig(n_users=80, n_items=20, domains=["books", "movies"], seed=5))
    return split_target(ds, "movies")


@pytest.fixture(scope="module")
def cold(plain):
    return hide_target_items(plain, 0.25, seed=1)


def test_hides_a_seeded_share_of_the_target_catalogue(plain, cold) -> None:
    n = len(plain.target_items)
    assert len(cold.hidden_items) == round(0.25 * n)
    assert np.isin(cold.hidden_items, plain.target_items).all() and (np.diff(cold.hidden_items) > 0).all()
    assert np.array_equal(hide_target_items(plain, 0.25, seed=1).hidden_items, cold.hidden_items)
    assert not np.array_equal(hide_target_items(plain, 0.25, seed=2).hidden_items, cold.hidden_items)
    assert len(plain.hidden_items) == 0
    for share in (0.0, 1.0, -0.1):
        with pytest.raises(DataValidationError, match="share"):
            hide_target_items(plain, share)


def test_training_readers_never_see_a_hidden_item(plain, cold) -> None:
    hidden = cold.hidden_items
    seq = cold.sequences
    assert np.isin(seq.items[plain.training_positions()], hidden).any()  # there was something to hide
    assert not np.isin(seq.items[cold.training_positions()], hidden).any()
    items, domains, offsets, cutoff, timestamps = cold.training_sequences()
    visible = np.arange(len(items)) - np.repeat(offsets[:-1], np.diff(offsets)) < np.repeat(cutoff, np.diff(offsets))
    assert not np.isin(items[visible], hidden).any()
    # every other training interaction is still there, in order
    assert np.array_equal(items[visible], seq.items[plain.training_positions() & ~np.isin(seq.items, hidden)])
    position = np.full(len(cold.item_index.item_ids), -1)
    position[cold.target_items] = np.arange(len(cold.target_items))
    win = build_train_windows(items, domains, offsets, cutoff, position, max_len=6)
    assert len(win) > 0
    assert not np.isin(win.items, hidden).any()  # no input
    labels = win.labels[win.labels != IGNORE_LABEL]
    assert not np.isin(cold.target_items[labels], hidden).any()  # no label
    counts = cold.training_item_counts()
    assert (counts[hidden] == 0).all()
    others = np.setdiff1d(np.arange(1, len(counts)), hidden)
    assert np.array_equal(counts[others], plain.training_item_counts()[others])


def test_examples_and_evaluation_histories_keep_hidden_items(plain, cold) -> None:
    assert cold.examples.equals(plain.examples)
    assert cold.sequences is plain.sequences
    new = new_item_examples(cold, "test")
    assert new.sum() >= np.isin(cold.role("test")["item_idx"], cold.hidden_items).sum() > 0
    assert unseen_items(cold)[cold.hidden_items].all() and not unseen_items(cold)[0]


def test_mostpop_and_sasrec_train_without_hidden_items(cold) -> None:
    from crossrec.eval.baselines.mostpop import MostPop
    from crossrec.eval.baselines.sasrec import SASRec

    pop = MostPop()
    pop.fit(cold)
    hidden_cols = np.searchsorted(cold.target_items, cold.hidden_items)
    assert (pop.popularity[hidden_cols] == 0).all() and pop.popularity.sum() > 0
    sasrec = SASRec(mode="target", d_model=8, n_heads=1, max_len=6, max_epochs=1, progress=False)
    sasrec._setup(cold)
    ids, *_ = sasrec._training_sequences(cold)
    assert not np.isin(ids, sasrec.vocab[cold.hidden_items]).any()
    assert int(sasrec.excluded.sum()) == len(cold.hidden_items)
    assert sasrec.excluded[sasrec.vocab[cold.hidden_items] - 1].all()


def test_save_and_load_keep_the_hidden_items(cold, tmp_path: Path) -> None:
    back = load_split(cold.save(tmp_path / "split"))
    assert np.array_equal(back.hidden_items, cold.hidden_items)
    assert np.array_equal(back.training_item_counts(), cold.training_item_counts())
