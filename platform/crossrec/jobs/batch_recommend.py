"""Top-k recommendations for every user of a dataset, from a bundle, written to Parquet.

Each user's whole history (all domains, time-ordered) is read; items they already have in the target
domain are excluded; users with no usable history get the target's popularity ranking (flagged).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from crossrec.data.dataset import load_dataset
from crossrec.data.history import prefix_batch, usable_rows
from crossrec.data.sequences import UserSequences
from crossrec.eval.explanations import reason_records
from crossrec.model.bundle import ModelBundle
from crossrec.model.explain import explain_items
from crossrec.model.ranker import Ranker
from crossrec.utils.progress import Progress

REASON = pa.struct([("item_id", pa.string()), ("domain", pa.string()), ("text", pa.string()), ("weight", pa.float32())])


def recommend_all_users(bundle_path: str, dataset: str, target: str, k: int = 10, batch_size: int = 512,
                        exclude_seen: bool = True, progress: bool = True, explain_n: int | None = None) -> pa.Table:
    """Returns a table (user_id, rank, item_id, score, fallback) with k rows per user; with ``explain_n`` also
    ``because``: up to that many history items (item_id, domain, text, weight) that drove each recommendation."""
    bundle = ModelBundle.load(bundle_path, targets=[target])
    tm = bundle.target(target)
    index = bundle.item_index
    ds = load_dataset(dataset)
    seq = UserSequences.from_interactions(ds.interactions, index)
    catalogue = tm.catalogue
    position = np.full(len(index.item_ids), -1)
    position[catalogue] = np.arange(len(catalogue))
    ranker = Ranker(normalize=tm.model.ranks_by_cosine, temperature=tm.model.cfg.fusion.temperature)
    pop_order = np.argsort(-tm.popularity, kind="stable")
    cols: dict[str, list] = {"user_id": [], "rank": [], "item_id": [], "score": [], "fallback": [], "because": []}
    n = seq.n_users
    bar = Progress(f"recommending {target}", n, unit="users", enabled=progress)
    for start in range(0, n, batch_size):
        users = np.arange(start, min(start + batch_size, n))
        items, domains, _ = prefix_batch(seq.items, seq.domains, seq.offsets[users], seq.offsets[users + 1],
                                         tm.model.history_window)
        usable = usable_rows(items, domains, tm.model.only_domain)
        seen = [position[seq.items[seq.offsets[u]:seq.offsets[u + 1]]] for u in users]
        seen = [s[s >= 0] if exclude_seen else np.array([], dtype=np.int64) for s in seen]
        top_s = np.full((len(users), k), np.nan, dtype=np.float32)
        top_i = np.full((len(users), k), -1, dtype=np.int64)
        rows = np.flatnonzero(usable)
        if rows.size:
            with torch.no_grad():
                u = tm.model.user_vectors(torch.as_tensor(items[rows]), torch.as_tensor(domains[rows]))
                s, i = ranker.topk(u, tm.catalogue_vectors, k, exclude=[seen[r] for r in rows])
            kk = s.shape[1]
            top_s[rows, :kk], top_i[rows, :kk] = s.numpy(), i.numpy()
        for r in np.flatnonzero(~usable):
            allowed = pop_order[~np.isin(pop_order, seen[r])][:k]
            top_i[r, : len(allowed)] = allowed
            top_s[r, : len(allowed)] = tm.popularity[allowed]
        for r, u in enumerate(users):
            valid = top_i[r] >= 0
            m = int(valid.sum())
            cols["user_id"] += [str(seq.user_ids[u])] * m
            cols["rank"] += list(range(1, m + 1))
            cols["item_id"] += [str(x) for x in index.item_ids[catalogue[top_i[r, valid]]]]
            cols["score"] += top_s[r, valid].tolist()
            cols["fallback"] += [bool(not usable[r])] * m
            if explain_n is not None:
                hist = slice(seq.offsets[u], seq.offsets[u + 1])
                reasons = explain_items(tm.model, seq.items[hist], seq.domains[hist],
                                        tm.catalogue_vectors[torch.as_tensor(top_i[r, valid])], explain_n)
                cols["because"] += [reason_records(index, x, digits=6) for x in reasons]
        bar.update(min(start + batch_size, n))
    bar.close()
    table = {"user_id": pa.array(cols["user_id"], pa.string()), "rank": pa.array(cols["rank"], pa.int32()),
             "item_id": pa.array(cols["item_id"], pa.string()), "score": pa.array(cols["score"], pa.float32()),
             "fallback": pa.array(cols["fallback"], pa.bool_())}
    if explain_n is not None:
        table["because"] = pa.array(cols["because"], pa.list_(REASON))
    return pa.table(table)
