"""History batching (crossrec.data.history): left-padding, prefix slicing, compaction, the usable-history rule."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.data.history import compact_left, left_pad, prefix_batch, readable, usable_rows


def test_compact_left_keeps_the_most_recent_ids_left_padded() -> None:
    ids = np.array([[0, 5, 0, 6, 7, 0], [3, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    assert compact_left(ids, ids > 0, 2).tolist() == [[6, 7], [0, 3], [0, 0]]
    assert compact_left(ids, ids > 0, 4).tolist() == [[0, 5, 6, 7], [0, 0, 0, 3], [0, 0, 0, 0]]


def test_prefix_batch_right_aligns_the_last_items_of_each_prefix() -> None:
    items = np.array([1, 2, 3, 4, 5, 6, 7])
    domains = items % 2 + 1
    got_items, got_domains, lengths = prefix_batch(items, domains, np.array([0, 4, 6]), np.array([3, 6, 6]), 2)
    assert got_items.tolist() == [[2, 3], [5, 6], [0, 0]]
    assert got_domains.tolist() == [[1, 2], [2, 1], [0, 0]]
    assert lengths.tolist() == [2, 2, 0]
    whole, _, lengths = prefix_batch(items, domains, np.array([0, 4]), np.array([3, 5]))
    assert whole.tolist() == [[1, 2, 3], [0, 0, 5]] and lengths.tolist() == [3, 1]


def test_left_pad_stacks_histories_and_keeps_the_latest() -> None:
    hist = [(np.array([4, 5, 6]), np.array([1, 1, 2])), (np.array([], dtype=np.int64), np.array([], dtype=np.int64))]
    items, domains = left_pad(hist, 2)
    assert items.tolist() == [[5, 6], [0, 0]] and domains.tolist() == [[1, 2], [0, 0]]
    assert left_pad(hist)[0].tolist() == [[4, 5, 6], [0, 0, 0]]


def test_usable_rule_is_the_same_for_numpy_and_torch() -> None:
    items = np.array([[0, 3, 4], [0, 0, 5], [0, 0, 0]])
    domains = np.array([[0, 1, 2], [0, 0, 1], [0, 0, 0]])
    assert usable_rows(items, domains).tolist() == [True, True, False]
    assert usable_rows(items, domains, only_domain=2).tolist() == [True, False, False]
    assert readable(torch.as_tensor(items), torch.as_tensor(domains), 2).tolist() == readable(items, domains, 2).tolist()
    assert usable_rows(torch.as_tensor(items), torch.as_tensor(domains), 2).tolist() == [True, False, False]
