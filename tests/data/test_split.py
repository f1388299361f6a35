"""The benchmark split: hand-checked example, slices, cutoffs, save/load, and the no-leakage property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from crossrec.data.dataset import make_dataset
from crossrec.data.split import load_split, split_target


def make(rows: list[tuple[str, str, int]], items: dict[str, str]):
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({"item_id": list(items), "domain": list(items.values()), "text": list(items)})
    return make_dataset("t", interactions, catalogue, keep_unused_items=True)


ITEMS = {"t1": "T", "t2": "T", "t3": "T", "t4": "T", "t5": "T", "t6": "T", "s1": "S", "s2": "S"}


def test_hand_checked_split() -> None:
    ds = make([
        # user a: ties at 30 are ordered s2 < t2 < t3 by item id; t4 is last, t3 second-to-last.
        ("a", "t1", 10), ("a", "s1", 20), ("a", "t3", 30), ("a", "s2", 30), ("a", "t2", 30), ("a", "t4", 40),
        # user b: two T interactions only -> a test example, no valid one.
        ("b", "s1", 1), ("b", "t5", 2), ("b", "t6", 3),
        # user c: never in T -> not evaluated, trains on everything.
        ("c", "s1", 5), ("c", "s2", 6),
        # user d: one T interaction at the same second as a source one -> 0 visible T items, 0 visible items.
        ("d", "t1", 7), ("d", "s2", 7),
    ], ITEMS)
    split = split_target(ds, "T")
    ex = split.examples.set_index(["user_id", "role"])
    assert sorted(ex.index) == [("a", "test"), ("a", "valid"), ("b", "test"), ("d", "test")]
    assert split.examples["role"].tolist() == ["valid", "test", "test", "test"]  # valid rows first
    a_test, a_valid = ex.loc[("a", "test")], ex.loc[("a", "valid")]
    assert (a_test["item_id"], a_test["history_len"], a_test["target_history_len"]) == ("t4", 5, 3)
    assert (a_valid["item_id"], a_valid["history_len"], a_valid["target_history_len"]) == ("t3", 2, 1)
    assert (ex.loc[("b", "test"), "history_len"], ex.loc[("b", "test"), "target_history_len"]) == (2, 1)
    assert (ex.loc[("d", "test"), "history_len"], ex.loc[("d", "test"), "target_history_len"]) == (0, 0)
    assert set(split.examples["slice"]) == {"cold"}
    rows = {u: i for i, u in enumerate(split.sequences.user_ids)}
    cutoff = {u: int(split.train_cutoff[rows[u]]) for u in "abcd"}
    assert cutoff == {"a": 2, "b": 2, "c": 2, "d": 0}
    assert split.target_items.tolist() == split.item_index.domain_items("T").tolist()
    assert split.examples["item_idx"].tolist() == split.item_index.lookup(split.examples["item_id"]).tolist()
    assert split.summary() == {"target": "T", "test_users": 3, "cold": 3, "cold_zero": 1, "warm": 0,
                                    "valid_users": 1, "target_items": 6}


def test_warm_slice_starts_at_five_visible_target_items() -> None:
    rows = [("w", f"t{i}", i) for i in range(1, 7)] + [("k", f"t{i}", i) for i in range(1, 6)]
    split = split_target(make(rows, ITEMS), "T")
    test = split.role("test").set_index("user_id")
    assert test.loc["w", ["target_history_len", "slice"]].tolist() == [5, "warm"]
    assert test.loc["k", ["target_history_len", "slice"]].tolist() == [4, "cold"]


def test_save_and_load_round_trip(tiny, tmp_path: Path) -> None:
    split = split_target(tiny, "books")
    back = load_split(split.save(tmp_path / "split"))
    assert back.target == "books"
    pd.testing.assert_frame_equal(back.examples, split.examples, check_dtype=False)
    for name in ("user_ids", "offsets", "items", "domains", "timestamps"):
        assert getattr(back.sequences, name).tolist() == getattr(split.sequences, name).tolist()
    assert back.train_cutoff.tolist() == split.train_cutoff.tolist()
    assert back.target_items.tolist() == split.target_items.tolist()
    assert back.item_index.item_ids.tolist() == split.item_index.item_ids.tolist()


def assert_no_leakage(split) -> None:
    """Nothing at or after a held-out interaction's time is visible (any domain) or trained on."""
    seq = split.sequences
    for ex in split.examples.itertuples():
        start, end = seq.offsets[ex.user_row], seq.offsets[ex.user_row + 1]
        ts = seq.timestamps[start:end]
        visible = ts[: ex.history_len]
        assert (visible < ex.timestamp).all()
        assert (ts[ex.history_len:] >= ex.timestamp).all()  # and everything earlier is visible
        assert (ts[: split.train_cutoff[ex.user_row]] < ex.timestamp).all()  # training never sees it
        t_items = seq.domains[start:start + ex.history_len] == split.item_index.domain_id(split.target)
        assert t_items.sum() == ex.target_history_len


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(sorted(ITEMS)), st.integers(0, 4)),
                min_size=1, max_size=40))
def test_no_leakage_property(rows: list[tuple[str, str, int]]) -> None:
    ds = make(rows, ITEMS)
    if "T" not in set(ds.items["domain"]):
        return
    split = split_target(ds, "T")
    assert_no_leakage(split)
    # the test item is the user's last T interaction in (timestamp, item_id) order
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    last = frame[frame["item_id"].map(ITEMS) == "T"].sort_values(["timestamp", "item_id"]).groupby("user_id").last()
    test = split.role("test").set_index("user_id")
    assert sorted(test.index) == sorted(last.index)
    assert (test.loc[last.index, "item_id"].to_numpy() == last["item_id"].to_numpy()).all()


def test_no_leakage_on_synthetic_ties() -> None:
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    ds = generate_synthetic(SyntheticConfig(n_users=80, tie_rate=0.5, seed=3))
    for target in ds.domains:
        split = split_target(ds, target)
        assert_no_leakage(split)
        assert np.isin(split.examples["item_idx"], split.target_items).all()
