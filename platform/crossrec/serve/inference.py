"""Serving logic as plain functions and classes (no Ray): the catalogue, history resolution, per-target heads,
and the compute of each stage on typed messages (:mod:`crossrec.serve.messages`).

    RecommendRequest ─► HistoryResolver ─► ResolvedHistory ─► HistoryBatch
      ─► encode_batch (target heads; open items by their text) ─► InterestBatch ─► fuse_batch ─► QueryBatch
      ─► rank_batch (top-k over the catalogue version, seen excluded; popularity for cold rows) ─► RankedBatch

History items outside the bundle (*open* items) are read by their text alone: an id added by a catalogue update
(:mod:`crossrec.serve.catalogue`) with the catalogue's text, any other id when the request gives ``text`` and
``domain``. The Encoder embeds their text (:class:`crossrec.model.text_embedder.BundleTextEmbedder`, loaded on
the first open item); a batch of bundle items alone takes the same path as before.

The stages (:mod:`crossrec.serve.stages`) wrap these per replica; the request path around them is
:class:`crossrec.serve.pipeline.Pipeline`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from crossrec.errors import ModelInputError
from crossrec.model.bundle import ModelBundle, TargetModel
from crossrec.model.explain import leave_one_out, top_reasons
from crossrec.model.open_items import interests_with_text
from crossrec.model.ranker import Ranker
from crossrec.serve.catalogue import CatalogueOverlay, CatalogueStore, RankedCatalogue
from crossrec.serve.messages import (
    HistoryBatch,
    InterestBatch,
    QueryBatch,
    RankedBatch,
    RankPlan,
)
from crossrec.serve.schemas import RecommendRequest

if TYPE_CHECKING:
    from crossrec.data.sequences import ItemIndex
    from crossrec.model.recommender import CrossRecModel


class RequestError(ModelInputError):
    """A request that cannot be served as asked (HTTP 4xx). ``field`` names the offending field."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


# ``items`` value of a request-time text item (not in the bundle nor added): > 0, so it counts as a history
# position, and in no catalogue, so it is never excluded from or returned by a ranking.
OPEN_ITEM = np.iinfo(np.int64).max


@dataclass
class ResolvedHistory:
    """A request's history as model input: (L,) item and domain indices, most recent last. ``open``: (position,
    domain, text) of the items read by their text (index > N of an added item, or OPEN_ITEM)."""

    items: np.ndarray
    domains: np.ndarray
    unknown: list[str] = field(default_factory=list)
    open: list[tuple[int, str, str]] = field(default_factory=list)
    ignored_text: list[str] = field(default_factory=list)
    open_ids: list[str] = field(default_factory=list)  # the item ids of ``open``, in its order

    @property
    def empty(self) -> bool:
        return self.items.size == 0

    def describe(self, index: ItemIndex, position: int) -> tuple[str, str, str]:
        """(item id, domain, text) of history position ``position`` (a bundle item or an open one)."""
        for (pos, domain, text), item_id in zip(self.open, self.open_ids, strict=True):
            if pos == position:
                return item_id, domain, text
        i = int(self.items[position])
        return str(index.item_ids[i]), index.domain_of(i), str(index.texts[i])


class BundleCatalog:
    """The bundle's item index and metadata (loaded and checksum-verified once per replica), and the published
    catalogue updates over it (``catalogue_dir``: their root, None: updates off)."""

    def __init__(self, bundle_path: str | Path, device: str = "cpu", catalogue_dir: str | Path | None = None) -> None:
        self.device = device
        self.bundle = ModelBundle.load(bundle_path, device=device, targets=[])  # a URI is staged locally first
        self.path = self.bundle.path
        self.index = self.bundle.item_index
        self.targets = list(self.bundle.meta["targets"])
        self.version = self.bundle.version
        self.store = CatalogueStore(catalogue_dir, self.version, self.index)
        self.reads_text = self.bundle.model_config.tower.use_text  # the heads can read an item by its text

    def text_embedder(self, capacity: int = 10_000):
        """A (lazy) embedder of item text for this bundle's heads: the backbone loads on its first use."""
        from crossrec.model.text_embedder import BundleTextEmbedder

        return BundleTextEmbedder(self.path, self.bundle.meta, self.bundle.manifest.get("backbone"), self.device,
                                  capacity)

    def item_record(self, index: int) -> tuple[str, str, str]:
        """(item_id, domain, text) of item ``index``: a bundle item, or one added by a catalogue update."""
        if index < len(self.index.item_ids):
            return str(self.index.item_ids[index]), self.index.domain_of(index), str(self.index.texts[index])
        entry = self.store.current().entry(index) or self.store.refresh().entry(index)  # a newer Ranker: re-read
        if entry is None:
            raise RuntimeError(f"item index {index} is in no published catalogue version")
        return entry.item_id, entry.domain, entry.text

    def check_target(self, target: str) -> None:
        if target not in self.targets:
            raise RequestError("target_domain", f"unknown target domain {target!r}; known: {self.targets}", 404)

    def load_target(self, target: str) -> TargetModel:
        self.check_target(target)
        return self.bundle.read_target(target, self.device)  # held by the caller's LRU only


class HistoryResolver:
    """Maps request history items to catalogue indices; unknown ids are reported, not fatal.

    Rules: a bundle id is a bundle item (a request ``text`` that differs from the catalogue's is ignored and
    reported); an id added by a catalogue update is read by the catalogue's text; any other id is read by its
    request ``text`` (``domain`` required, one of the bundle's) or, without text, listed in ``unknown``. With heads
    that cannot read text (``tower.use_text: false``), open items are unknown items."""

    def __init__(self, catalog: BundleCatalog, max_len: int) -> None:
        self.index = catalog.index
        self.catalog = catalog
        self.max_len = max_len
        # id -> 1-based item index; a dict lookup per history item (a pandas indexer costs ~0.5 ms a request)
        self._ids = {str(item): i for i, item in enumerate(self.index.item_ids[1:], start=1)}
        self._domain_id = {d: i + 1 for i, d in enumerate(self.index.domains)}

    def resolve(self, request: RecommendRequest) -> ResolvedHistory:
        hist = request.history
        if any(h.timestamp is not None for h in hist):
            order = sorted(range(len(hist)), key=lambda i: (hist[i].timestamp is None, hist[i].timestamp or 0, i))
            hist = [hist[i] for i in order]
        ids = [h.item_id for h in hist]
        idx = np.fromiter((self._ids.get(i, 0) for i in ids), dtype=np.int64, count=len(ids))
        ignored = []
        for pos, (h, i) in enumerate(zip(hist, idx, strict=True)):
            if i > 0 and h.domain is not None:
                actual = self.index.domain_of(i)
                if h.domain != actual:
                    raise RequestError(f"history[{pos}].domain",
                                       f"item {h.item_id!r} belongs to domain {actual!r}, not {h.domain!r}")
            if i > 0 and h.text is not None and h.text != self.index.texts[i]:
                ignored.append(h.item_id)
        if idx.all():  # every item is a bundle item: the common path
            known = idx[-self.max_len :]
            return ResolvedHistory(known, self.index.item_domain[known].astype(np.int64), [], [], ignored)
        return self._with_open_items(hist, idx, ignored)

    def _with_open_items(self, hist: list, idx: np.ndarray, ignored: list[str]) -> ResolvedHistory:
        overlay: CatalogueOverlay = self.catalog.store.current()
        rows: list[tuple[int, int, str | None, str | None, str]] = []  # (index, domain index, domain, text, id)
        unknown = []
        for pos, (h, i) in enumerate(zip(hist, idx, strict=True)):
            if i > 0:
                rows.append((int(i), int(self.index.item_domain[i]), None, None, h.item_id))
                continue
            added = overlay.added(h.item_id)
            if added is not None:
                if h.domain is not None and h.domain != added.domain:
                    raise RequestError(f"history[{pos}].domain",
                                       f"item {h.item_id!r} belongs to domain {added.domain!r}, not {h.domain!r}")
                if h.text is not None and h.text != added.text:
                    ignored.append(h.item_id)
                domain, text, index = added.domain, added.text, added.index
            elif h.text is not None:
                if h.domain is None:
                    raise RequestError(f"history[{pos}].domain", f"required with `text` for item {h.item_id!r}, "
                                       f"which is not in the catalogue; one of {self.index.domains}")
                if h.domain not in self._domain_id:
                    raise RequestError(f"history[{pos}].domain",
                                       f"unknown domain {h.domain!r}; known: {self.index.domains}")
                domain, text, index = h.domain, h.text, OPEN_ITEM
            else:
                unknown.append(h.item_id)
                continue
            if not self.catalog.reads_text:
                unknown.append(h.item_id)
                continue
            rows.append((int(index), self._domain_id[domain], domain, text, h.item_id))
        rows = rows[-self.max_len :]
        items = np.array([r[0] for r in rows], dtype=np.int64)
        domains = np.array([r[1] for r in rows], dtype=np.int64)
        found = [(p, r[2], r[3]) for p, r in enumerate(rows) if r[3] is not None]
        open_ids = [r[4] for r in rows if r[3] is not None]
        return ResolvedHistory(items, domains, unknown, found, ignored, open_ids)  # type: ignore[arg-type]


class TargetHeadsCache:
    """Per-target heads, loaded on demand and kept in an LRU of ``capacity`` targets."""

    def __init__(self, catalog: BundleCatalog, capacity: int = 8) -> None:
        self.catalog = catalog
        self.capacity = capacity
        self._heads: OrderedDict[str, TargetModel] = OrderedDict()

    def get(self, target: str) -> TargetModel:
        if target in self._heads:
            self._heads.move_to_end(target)
            return self._heads[target]
        heads = self.catalog.load_target(target)
        self._heads[target] = heads
        while len(self._heads) > self.capacity:
            self._heads.popitem(last=False)
        return heads

    @property
    def loaded(self) -> list[str]:
        return list(self._heads)


@torch.no_grad()
def encode_batch(heads: TargetModel, batch: HistoryBatch, text: torch.Tensor | None = None) -> InterestBatch:
    """Histories (B, L) → the interests at the last position (``hidden``: the sequence encoder's output, for
    the ranking query's next-item term). Only the model's last ``history_window`` items are read.
    ``text`` (S, H): the embeddings of ``batch.texts`` (needed when the batch has open items)."""
    model = heads.model
    window = model.history_window  # None: the whole history (a target-only model picks its items itself)
    items, domains, slots = batch.items, batch.domains, batch.slots
    if window is not None and items.shape[1] != window:  # exactly the window, as in evaluation
        items, domains, slots = batch.fit(window)
    items = torch.from_numpy(np.ascontiguousarray(items))
    domains = torch.from_numpy(np.ascontiguousarray(domains))
    if slots is None:
        interests = model.encode_interests(items, domains)
    else:
        if text is None or text.shape[0] != len(batch.texts):
            raise ValueError(f"encode_batch: {len(batch.texts)} open item texts but "
                             f"{0 if text is None else text.shape[0]} embeddings")
        slots = torch.from_numpy(np.ascontiguousarray(slots)).long()
        rows = text[slots.clamp(min=0)]  # (B, L, H); only the open positions are read
        interests = model.encode_interests(items, domains) if not bool((slots >= 0).any()) else \
            interests_with_text(model, items, domains, rows, slots >= 0)
    interests = interests.last()
    return InterestBatch(batch.version, batch.target, source=interests.source[:, 0].numpy(),
                         target_interest=interests.target[:, 0].numpy(), hidden=interests.hidden[:, 0].numpy(),
                         domain=interests.domain.reshape(-1).numpy(), has_target=interests.has_target[:, 0].numpy())


@torch.no_grad()
def fuse_batch(heads: TargetModel, interests: InterestBatch) -> QueryBatch:
    """Interests → ranking queries (B, D) (see ``CrossRecModel.query``)."""
    from crossrec.model.recommender import Interests

    has = torch.from_numpy(np.asarray(interests.has_target)).bool()
    fused = heads.model.fuse(Interests(torch.from_numpy(interests.source), torch.from_numpy(interests.target_interest),
                                       torch.from_numpy(interests.domain).view(1, -1), has, has))
    return QueryBatch(interests.version, interests.target,
                      heads.model.query(fused, torch.from_numpy(interests.hidden)).numpy())


def _seen_columns(heads: RankedCatalogue, items: np.ndarray) -> np.ndarray:
    """Catalogue columns of the target items among ``items`` (item indices of any domain)."""
    catalogue = heads.catalogue
    pos = np.minimum(np.searchsorted(catalogue, items), len(catalogue) - 1)
    return np.unique(pos[catalogue[pos] == items])


def rank_batch(heads: TargetModel | RankedCatalogue, plan: RankPlan, queries: QueryBatch | None,
               chunk_size: int | None = 65536, ann_min_items: int | None = None,
               catalogue_version: int = 0) -> RankedBatch:
    """Top ``plan.k`` per row, seen items excluded: warm rows by their query (in order), cold rows by
    training popularity. items/scores (B, k), -1 / -inf padding. ``heads``: a target's heads, or its catalogue
    under a catalogue update (:meth:`CatalogueOverlay.ranked`: removed items gone, added ones ranked too).

    Exact scoring unless the target's catalogue has at least ``ann_min_items`` items and the bundle holds an
    ANN index for it (:mod:`crossrec.model.ann`): then the index proposes candidates, which are re-scored
    exactly; seen-item exclusion stays exact either way. Under a catalogue update the index still ranks the
    bundle's part (removed items excluded) and the added items are scored exactly beside it."""
    if not isinstance(heads, RankedCatalogue):
        heads = RankedCatalogue.of(heads)
    catalogue = heads.catalogue
    k = min(plan.k, len(catalogue))
    out_items = np.full((len(plan), k), -1, dtype=np.int64)
    out_scores = np.full((len(plan), k), -np.inf, dtype=np.float32)
    warm = np.flatnonzero(~plan.cold)
    if warm.size:
        if queries is None or len(queries.queries) != warm.size:
            raise ValueError(f"rank_batch: {warm.size} warm rows but {0 if queries is None else len(queries.queries)} queries")
        model = heads.model
        exclude = [_seen_columns(heads, plan.seen(b)) for b in warm]
        temperature = model.cfg.fusion.temperature
        if ann_min_items is not None and len(catalogue) >= ann_min_items and heads.ann is not None:
            if heads.whole:
                scores, cols = heads.ann.search(queries.queries, k, exclude, temperature)
            else:
                scores, cols = _ann_under_update(heads, queries.queries, k, exclude, chunk_size)
        else:
            scores, cols = _exact_topk(model, queries.queries, heads.catalogue_vectors, k, exclude, chunk_size)
        out_items[warm, : cols.shape[1]] = np.where(cols >= 0, catalogue[np.maximum(cols, 0)], -1)
        out_scores[warm, : cols.shape[1]] = scores
    if not plan.cold.any():
        return RankedBatch(plan.version, plan.target, out_items, out_scores, catalogue_version)
    order = np.argsort(-heads.popularity, kind="stable")
    for b in np.flatnonzero(plan.cold):
        cols = order[~np.isin(order, _seen_columns(heads, plan.seen(b)))][:k] if len(plan.seen(b)) else order[:k]
        out_items[b, : len(cols)] = catalogue[cols]
        out_scores[b, : len(cols)] = heads.popularity[cols]
    return RankedBatch(plan.version, plan.target, out_items, out_scores, catalogue_version)


def _exact_topk(model: CrossRecModel, queries: np.ndarray, vectors: torch.Tensor, k: int, exclude: list[np.ndarray],
                chunk_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of queries (B, D) over item vectors (N, D) as the model scores them (cosine or dot, its
    temperature): scores (B, k') float32 and columns (B, k') int64, -inf / -1 padding."""
    ranker = Ranker(normalize=model.ranks_by_cosine, temperature=model.cfg.fusion.temperature, chunk_size=chunk_size)
    scores, cols = ranker.topk(torch.from_numpy(queries), vectors, k, exclude)
    return scores.numpy(), cols.numpy()


def _ann_under_update(view: RankedCatalogue, queries: np.ndarray, k: int, exclude: list[np.ndarray],
                      chunk_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of ``view`` (scores (B, k'), cols (B, k'), -inf / -1 padding) under a catalogue update: the
    bundle's ANN index over the bundle's part (its removed columns excluded too) merged with the added items,
    scored exactly. ``exclude``: per row, the seen columns of ``view``."""
    base, model = view.heads, view.model
    temperature = model.cfg.fusion.temperature
    kept = view.kept_columns  # view column -> bundle column (built once per catalogue version)
    n_kept = len(kept)
    base_exclude = [np.concatenate([kept[e[e < n_kept]], view.removed_columns]) for e in exclude]
    scores, cols = base.ann.search(queries, k, base_exclude, temperature)
    cols = np.where(cols >= 0, np.searchsorted(kept, np.maximum(cols, 0)), -1)  # back to view columns
    if view.n_added:
        added_s, added_c = _exact_topk(model, queries, view.catalogue_vectors[n_kept:], k,
                                       [e[e >= n_kept] - n_kept for e in exclude], chunk_size)
        scores = np.concatenate([scores, added_s], axis=1)
        cols = np.concatenate([cols, np.where(added_c >= 0, added_c + n_kept, -1)], axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(cols, order, 1)


EXPLAIN_MAX_HISTORY = 64  # history positions an explanation considers (the latest ones)


@torch.no_grad()
def explain_batch(heads: TargetModel, batch: HistoryBatch, ranked: list[list[int]], n: list[int],
                  text: torch.Tensor | None = None,
                  added: dict[int, np.ndarray] | None = None) -> list[list[list[tuple[int, float]]]]:
    """Per row, per ranked item: up to ``n[row]`` (history position, weight) pairs, strongest first (exact
    leave-one-out, :func:`crossrec.model.explain.leave_one_out`, one batched forward per row). Positions index
    the row's packed history (:meth:`HistoryBatch.rows`), open items included: ``text`` (S, H) holds the
    embeddings of ``batch.texts``. ``ranked``: item indices; an item added by a catalogue update (index > N)
    is explained with its published vector ``added[index]`` (D,)."""
    model = heads.model
    window = min(EXPLAIN_MAX_HISTORY, model.cfg.tower.max_len)
    if batch.texts and (text is None or text.shape[0] != len(batch.texts)):
        raise ValueError(f"explain_batch: {len(batch.texts)} open item texts but "
                         f"{0 if text is None else text.shape[0]} embeddings")
    out = []
    for (items, domains, slots), ranked_items, k in zip(batch.rows(), ranked, n, strict=True):
        if not ranked_items or items.size == 0:
            out.append([[] for _ in ranked_items])
            continue
        vectors = _explained_vectors(heads, ranked_items, added or {})
        explanation = leave_one_out(model, items, domains, vectors, window, text, slots)
        out.append(top_reasons(explanation, k))
    return out


def _explained_vectors(heads: TargetModel, ranked: list[int], added: dict[int, np.ndarray]) -> torch.Tensor:
    """(k, D) vectors of ranked item indices: the heads' catalogue rows, or published vectors of added items."""
    position = heads.model.catalogue_position
    if all(i < position.shape[0] for i in ranked):
        return heads.catalogue_vectors[position[torch.as_tensor(ranked)]]
    missing = [i for i in ranked if i >= position.shape[0] and i not in added]
    if missing:
        raise ValueError(f"explain_batch: no vector for added items {missing[:5]}")
    base = heads.catalogue_vectors
    return torch.stack([base[position[i]] if i < position.shape[0] else
                        torch.as_tensor(added[i], dtype=base.dtype, device=base.device) for i in ranked])
