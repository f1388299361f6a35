"""ItemIndex and UserSequences: ordering, lookup, CSR layout."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from crossrec.data.sequences import ItemIndex, UserSequences


def test_item_index_order_and_lookup(tiny) -> None:
    index = ItemIndex.from_items(tiny.items.sample(frac=1.0, random_state=3))  # input order does not matter
    assert index.item_ids.tolist() == ["", "b1", "b2", "b3", "m1", "m2"]
    assert index.domains == ["books", "music"]
    assert index.item_domain.tolist() == [0, 1, 1, 1, 2, 2]
    assert index.texts[0] == "" and index.texts[4] == "Song one"
    assert index.lookup(["m2", "b1", "nope"]).tolist() == [5, 1, 0]
    assert index.domain_items("music").tolist() == [4, 5]
    assert index.item_domain.dtype == np.int64 and index.lookup(["b1"]).dtype == np.int64


def test_item_index_round_trips_through_frame_and_pickle(tiny) -> None:
    index = ItemIndex.from_items(tiny.items)
    index.lookup(["b1"])  # builds the cached pandas index, which is not pickled
    for other in (ItemIndex.from_items(index.to_frame()), pickle.loads(pickle.dumps(index))):
        assert other.item_ids.tolist() == index.item_ids.tolist()
        assert other.item_domain.tolist() == index.item_domain.tolist()
        assert other.texts == index.texts
        assert other.lookup(["m1"]).tolist() == [4]


def test_user_sequences_sorted_by_time_then_item_id() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "z"], "domain": ["y", "x", "x"], "text": ["", "", ""]})
    index = ItemIndex.from_items(items)  # index order: b, z (domain x), a (domain y)
    df = pd.DataFrame({"user_id": ["v", "u", "u", "u", "v"], "item_id": ["a", "z", "b", "a", "b"],
                       "timestamp": [5, 2, 1, 2, 5]})
    seq = UserSequences.from_interactions(df, index)
    assert seq.user_ids.tolist() == ["u", "v"]
    assert seq.offsets.tolist() == [0, 3, 5]
    # u: b@1, then the tie at 2 ordered by item id ("a" < "z") even though z has the smaller index
    assert index.item_ids[seq.items].tolist() == ["b", "a", "z", "a", "b"]
    assert seq.timestamps.tolist() == [1, 2, 2, 5, 5]
    assert seq.domains.tolist() == index.item_domain[seq.items].tolist()
    assert seq.lengths.tolist() == [3, 2]
    assert seq.user_of_position().tolist() == [0, 0, 0, 1, 1]
