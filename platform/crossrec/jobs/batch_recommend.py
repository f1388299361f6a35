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


def user_histories(dataset: str, bundle: ModelBundle) -> pa.Table:
    """One row per user of ``dataset``: user_id, items, domains (list<int64>: item / domain indices of the bundle,
    all domains, time-ordered): the input of :class:`BatchRecommender`."""
    seq = UserSequences.from_interactions(load_dataset(dataset).interactions, bundle.item_index)
    offsets = pa.array(seq.offsets.astype(np.int32))
    return pa.table({"user_id": pa.array([str(u) for u in seq.user_ids], pa.string()),
                     "items": pa.ListArray.from_arrays(offsets, pa.array(seq.items, pa.int64())),
                     "domains": pa.ListArray.from_arrays(offsets, pa.array(seq.domains, pa.int64()))})


class BatchRecommender:
    """Top-k for batches of users (a :func:`user_histories` table slice) for one target: the in-process loop
    and each Ray Data actor (:mod:`crossrec.jobs.batch_data`) run this same class. Users with no usable history
    get the target's popularity ranking (``fallback``); target items already in the history are excluded."""

    def __init__(self, bundle_path: str, target: str, k: int = 10, exclude_seen: bool = True,
                 explain_n: int | None = None, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.bundle = ModelBundle.load(bundle_path, targets=[target])
        self.tm = self.bundle.target(target)
        self.index = self.bundle.item_index
        self.k, self.exclude_seen, self.explain_n = k, exclude_seen, explain_n
        catalogue = self.tm.catalogue
        self.position = np.full(len(self.index.item_ids), -1)
        self.position[catalogue] = np.arange(len(catalogue))
        self.ranker = Ranker(normalize=self.tm.model.ranks_by_cosine, temperature=self.tm.model.cfg.fusion.temperature)
        self.pop_order = np.argsort(-self.tm.popularity, kind="stable")

    def __call__(self, batch: pa.Table) -> pa.Table:
        """(user_id, items, domains) rows → (user_id, rank, item_id, score, fallback[, because]), k rows per user."""
        tm, k, index = self.tm, self.k, self.index
        flat_items = batch.column("items").combine_chunks()
        flat_domains = batch.column("domains").combine_chunks()
        offsets = flat_items.offsets.to_numpy().astype(np.int64)
        items_all = flat_items.values.to_numpy().astype(np.int64)
        domains_all = flat_domains.values.to_numpy().astype(np.int64)
        starts, ends = offsets[:-1], offsets[1:]
        n = len(batch)
        items, domains, _ = prefix_batch(items_all, domains_all, starts, ends, tm.model.history_window)
        usable = usable_rows(items, domains, tm.model.only_domain)
        seen = [self.position[items_all[a:b]] for a, b in zip(starts, ends, strict=True)]
        seen = [s[s >= 0] if self.exclude_seen else np.array([], dtype=np.int64) for s in seen]
        top_s = np.full((n, k), np.nan, dtype=np.float32)
        top_i = np.full((n, k), -1, dtype=np.int64)
        rows = np.flatnonzero(usable)
        if rows.size:
            with torch.no_grad():
                u = tm.model.user_vectors(torch.as_tensor(items[rows]), torch.as_tensor(domains[rows]))
                s, i = self.ranker.topk(u, tm.catalogue_vectors, k, exclude=[seen[r] for r in rows])
            kk = s.shape[1]
            top_s[rows, :kk], top_i[rows, :kk] = s.numpy(), i.numpy()
        for r in np.flatnonzero(~usable):
            allowed = self.pop_order[~np.isin(self.pop_order, seen[r])][:k]
            top_i[r, : len(allowed)] = allowed
            top_s[r, : len(allowed)] = tm.popularity[allowed]
        cols: dict[str, list] = {"user_id": [], "rank": [], "item_id": [], "score": [], "fallback": [], "because": []}
        user_ids = batch.column("user_id").to_pylist()
        for r in range(n):
            valid = top_i[r] >= 0
            m = int(valid.sum())
            cols["user_id"] += [user_ids[r]] * m
            cols["rank"] += list(range(1, m + 1))
            cols["item_id"] += [str(x) for x in index.item_ids[tm.catalogue[top_i[r, valid]]]]
            cols["score"] += top_s[r, valid].tolist()
            cols["fallback"] += [bool(not usable[r])] * m
            if self.explain_n is not None:
                hist = slice(starts[r], ends[r])
                reasons = explain_items(tm.model, items_all[hist], domains_all[hist],
                                        tm.catalogue_vectors[torch.as_tensor(top_i[r, valid])], self.explain_n)
                cols["because"] += [reason_records(index, x, digits=6) for x in reasons]
        table = {"user_id": pa.array(cols["user_id"], pa.string()), "rank": pa.array(cols["rank"], pa.int32()),
                 "item_id": pa.array(cols["item_id"], pa.string()), "score": pa.array(cols["score"], pa.float32()),
                 "fallback": pa.array(cols["fallback"], pa.bool_())}
        if self.explain_n is not None:
            table["because"] = pa.array(cols["because"], pa.list_(REASON))
        return pa.table(table)


def recommend_all_users(bundle_path: str, dataset: str, target: str, k: int = 10, batch_size: int = 512,
                        exclude_seen: bool = True, progress: bool = True, explain_n: int | None = None) -> pa.Table:
    """Returns a table (user_id, rank, item_id, score, fallback) with k rows per user; with ``explain_n`` also
    ``because``: up to that many history items (item_id, domain, text, weight) that drove each recommendation.
    In this process, batch after batch (:mod:`crossrec.jobs.batch_data` runs the same on Ray Data actors)."""
    recommender = BatchRecommender(bundle_path, target, k, exclude_seen, explain_n)
    users = user_histories(dataset, recommender.bundle)
    n = users.num_rows
    bar = Progress(f"recommending {target}", n, unit="users", enabled=progress)
    parts = []
    for start in range(0, n, batch_size):
        parts.append(recommender(users.slice(start, batch_size)))
        bar.update(min(start + batch_size, n))
    bar.close()
    return pa.concat_tables(parts) if parts else recommender(users.slice(0, 0))
