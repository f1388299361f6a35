"""Training windows: dense next-target labels, never past a user's training cutoff."""

from __future__ import annotations

import numpy as np

from crossrec.data.windows import (
    IGNORE_LABEL,
    build_train_windows,
    burst_target_labels,
    next_any_items,
    next_target_labels,
)

# Items 1..6; target catalogue = items 2 (position 0) and 5 (position 1).
CATALOGUE_POSITION = np.array([-1, -1, 0, -1, -1, 1, -1])


def test_next_target_labels_by_hand() -> None:
    items = np.array([1, 2, 3, 5, 4, 3, 1, 2])
    offsets = np.array([0, 5, 8])
    cutoff = np.array([5, 2])  # user 1 may only see its first two items: its target item is held out
    labels = next_target_labels(items, offsets, cutoff, CATALOGUE_POSITION)
    expected = [0, 1, 1, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL]
    assert labels.tolist() == expected


def test_burst_labels_sit_where_a_held_out_example_would() -> None:
    # user 0: timestamps 1 1 | 2 2 | 3 | 4 (four bursts); user 1 may see its first two items only
    items = np.array([1, 2, 2, 5, 3, 5, 4, 2, 5])
    timestamps = np.array([1, 1, 2, 2, 3, 4, 7, 8, 9])
    offsets, cutoff = np.array([0, 6, 9]), np.array([6, 2])
    adjacent = burst_target_labels(items, timestamps, offsets, cutoff, CATALOGUE_POSITION, adjacent=True)
    # burst ends: 1 (next burst {2, 5}: its last target is 5 -> 1), 3 (next burst {3}: none), 4 (next {5} -> 1),
    # 5 (the prefix ends); positions inside a burst never get a label; user 1's label 5 lies past its cutoff
    assert adjacent.tolist() == [IGNORE_LABEL, 1, IGNORE_LABEL, IGNORE_LABEL, 1, IGNORE_LABEL, 0, IGNORE_LABEL,
                                 IGNORE_LABEL]
    later = burst_target_labels(items, timestamps, offsets, cutoff, CATALOGUE_POSITION, adjacent=False)
    assert later[3] == 1  # the first later burst holding a target item
    assert later[5] == IGNORE_LABEL  # never another user's burst
    every = burst_target_labels(items, timestamps, offsets, cutoff, CATALOGUE_POSITION, every_position=True)
    assert every.tolist() == [1, 1, IGNORE_LABEL, IGNORE_LABEL, 1, IGNORE_LABEL, 0, IGNORE_LABEL, IGNORE_LABEL]


def test_next_any_items_stop_at_the_cutoff() -> None:
    items = np.array([1, 2, 3, 5, 4, 3, 1, 2])
    nxt = next_any_items(items, np.array([0, 5, 8]), np.array([5, 2]))
    assert nxt.tolist() == [2, 3, 5, 4, IGNORE_LABEL, 1, IGNORE_LABEL, IGNORE_LABEL]


def test_keep_any_next_keeps_windows_without_target_labels() -> None:
    items = np.array([1, 2, 3, 5, 4, 3, 1, 4])
    domains = np.where(CATALOGUE_POSITION[items] >= 0, 2, 1)
    offsets, cutoff = np.array([0, 5, 8]), np.array([5, 3])
    only_target = build_train_windows(items, domains, offsets, cutoff, CATALOGUE_POSITION, max_len=3)
    both = build_train_windows(items, domains, offsets, cutoff, CATALOGUE_POSITION, max_len=3, keep_any_next=True)
    assert len(only_target) == 2 and len(both) == 3  # user 1 (3, 1, 4) has no target item but has next items
    assert both.items.tolist()[2] == [3, 1, 4]
    assert both.next_items.tolist()[2] == [1, 4, IGNORE_LABEL]
    assert both.labels.tolist()[2] == [IGNORE_LABEL] * 3


def test_windows_are_right_aligned_and_cover_the_prefix() -> None:
    items = np.array([1, 2, 3, 5, 4, 3, 1, 2])
    domains = np.where(CATALOGUE_POSITION[items] >= 0, 2, 1)
    w = build_train_windows(items, domains, np.array([0, 5, 8]), np.array([5, 2]), CATALOGUE_POSITION, max_len=3)
    assert w.items.tolist() == [[3, 5, 4], [0, 1, 2]]  # user 1 has no label inside its prefix: dropped
    assert w.labels.tolist() == [[1, IGNORE_LABEL, IGNORE_LABEL], [IGNORE_LABEL, 0, 1]]
    assert w.domains.tolist() == [[1, 2, 1], [0, 1, 2]]
    assert w.n_labels == 3


def test_no_window_reads_or_predicts_past_the_cutoff() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 40
    cat = np.full(n_items + 1, -1)
    cat[np.arange(1, n_items + 1, 3)] = np.arange(len(range(1, n_items + 1, 3)))
    lengths = rng.integers(1, 25, n_users)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = rng.integers(1, n_items + 1, offsets[-1])
    cutoff = np.array([rng.integers(0, n + 1) for n in lengths])
    # Mark every held-out (post-cutoff) item with a sentinel we can search for.
    sentinel_items = items.copy()
    for u in range(n_users):
        sentinel_items[offsets[u] + cutoff[u] : offsets[u + 1]] = n_items + 1
    cat_ext = np.concatenate([cat, [99]])  # the sentinel would be a target item if it leaked
    w = build_train_windows(sentinel_items, np.ones_like(items), offsets, cutoff, cat_ext, max_len=7, max_windows_per_user=2)
    assert not (w.items == n_items + 1).any()
    assert not (w.labels == 99).any()
    assert not (w.next_items == n_items + 1).any()
    # Per user at most 2 windows.
    assert len(w) <= 2 * n_users
