"""Serving logic as plain classes (no Ray): tests and the in-process benchmark use them directly; the
Serve deployments in :mod:`crossrec.serve.deployments` are thin wrappers.

    RecommendRequest ─► HistoryResolver ─► HistoryEncoder (target heads, per-domain LRU) ─► Interests
                     ─► InterestFusion ─► user vector ─► CatalogueRanker (top-k, seen excluded)
                     └─ empty / all-unknown history ─► CatalogueRanker.popular (cold_start = True)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crossrec.data.history import left_pad
from crossrec.errors import ModelInputError
from crossrec.eval.explanations import reason_records
from crossrec.model.bundle import ModelBundle, TargetModel
from crossrec.model.explain import explain_items
from crossrec.model.ranker import Ranker
from crossrec.serve.schemas import Reason, RecommendRequest, RecommendResponse, ScoredItem


class StaleBundleError(RuntimeError):
    """A replica holds another bundle version than the request expects (rolling update): HTTP 503, retry."""


class RequestError(ModelInputError):
    """A request that cannot be served as asked (HTTP 4xx). ``field`` names the offending field."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


@dataclass
class ResolvedHistory:
    """A request's history as model input: (L,) item and domain indices, most recent last."""

    items: np.ndarray
    domains: np.ndarray
    unknown: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.items.size == 0


class BundleCatalog:
    """The bundle's item index and metadata (loaded and checksum-verified once per replica)."""

    def __init__(self, bundle_path: str | Path, device: str = "cpu") -> None:
        self.path = Path(bundle_path)
        self.device = device
        self.bundle = ModelBundle.load(self.path, device=device, targets=[])
        self.index = self.bundle.item_index
        self.targets = list(self.bundle.meta["targets"])
        self.version = self.bundle.version

    def check_target(self, target: str) -> None:
        if target not in self.targets:
            raise RequestError("target_domain", f"unknown target domain {target!r}; known: {self.targets}", 404)

    def load_target(self, target: str) -> TargetModel:
        self.check_target(target)
        return self.bundle.read_target(target, self.device)  # held by the caller's LRU only


class HistoryResolver:
    """Maps request history items to catalogue indices; unknown ids are reported, not fatal."""

    def __init__(self, catalog: BundleCatalog, max_len: int) -> None:
        self.index = catalog.index
        self.max_len = max_len
        # id -> 1-based item index; a dict lookup per history item (a pandas indexer costs ~0.5 ms a request)
        self._ids = {str(item): i for i, item in enumerate(self.index.item_ids[1:], start=1)}

    def resolve(self, request: RecommendRequest) -> ResolvedHistory:
        hist = request.history
        if any(h.timestamp is not None for h in hist):
            order = sorted(range(len(hist)), key=lambda i: (hist[i].timestamp is None, hist[i].timestamp or 0, i))
            hist = [hist[i] for i in order]
        ids = [h.item_id for h in hist]
        idx = np.fromiter((self._ids.get(i, 0) for i in ids), dtype=np.int64, count=len(ids))
        for pos, (h, i) in enumerate(zip(hist, idx, strict=True)):
            if i > 0 and h.domain is not None:
                actual = self.index.domain_of(i)
                if h.domain != actual:
                    raise RequestError(f"history[{pos}].domain",
                                       f"item {h.item_id!r} belongs to domain {actual!r}, not {h.domain!r}")
        unknown = [h.item_id for h, i in zip(hist, idx, strict=True) if i == 0]
        known = idx[idx > 0][-self.max_len :]
        return ResolvedHistory(known.astype(np.int64), self.index.item_domain[known].astype(np.int64), unknown)


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
def encode_histories(heads: TargetModel, histories: list[ResolvedHistory]) -> dict[str, np.ndarray]:
    """Histories -> {"source", "target", "hidden": (B, D), "domain": (D,), "has_target": (B,) bool} at the last
    position (``hidden``: the sequence encoder's output, for the ranking query's next-item term)."""
    model = heads.model
    items, domains = left_pad([(h.items, h.domains) for h in histories], model.history_window)
    interests = model.encode_interests(torch.from_numpy(items), torch.from_numpy(domains)).last()
    return {"source": interests.source[:, 0].numpy(), "target": interests.target[:, 0].numpy(),
            "domain": interests.domain.reshape(-1).numpy(), "has_target": interests.has_target[:, 0].numpy(),
            "hidden": interests.hidden[:, 0].numpy()}


EXPLAIN_MAX_HISTORY = 64  # history positions an explanation considers (the latest ones)


@torch.no_grad()
def explain_rankings(heads: TargetModel, histories: list[ResolvedHistory], ranked: list[list[tuple[int, float]]],
                     n: list[int]) -> list[list[list[tuple[int, float]]]]:
    """Per row, per ranked item: up to ``n[row]`` (history item index, weight) pairs, strongest first
    (exact leave-one-out, :func:`crossrec.model.explain.leave_one_out`, one batched forward per row)."""
    model = heads.model
    window = min(EXPLAIN_MAX_HISTORY, model.cfg.tower.max_len)
    out = []
    for hist, items, k in zip(histories, ranked, n, strict=True):
        if not items or hist.empty:
            out.append([[] for _ in items])
            continue
        cols = model.catalogue_position[torch.as_tensor([i for i, _ in items])]
        out.append(explain_items(model, hist.items, hist.domains, heads.catalogue_vectors[cols], k, window))
    return out


@torch.no_grad()
def fuse_interests(heads: TargetModel, interests: dict[str, np.ndarray]) -> np.ndarray:
    """Interest vectors (from :func:`encode_histories`) -> ranking queries (B, D) (see ``CrossRecModel.query``)."""
    from crossrec.model.recommender import Interests

    t = {k: torch.from_numpy(np.asarray(v)) for k, v in interests.items()}
    has = t["has_target"].bool()
    fused = heads.model.fuse(Interests(t["source"], t["target"], t["domain"].view(1, -1), has, has))
    return heads.model.query(fused, t["hidden"]).numpy()


class HistoryEncoder:
    """User histories → interest vectors (transferred source, target, domain) with the target's heads."""

    def __init__(self, heads: TargetHeadsCache) -> None:
        self.heads = heads

    def encode(self, target: str, histories: list[ResolvedHistory]) -> dict[str, np.ndarray]:
        return encode_histories(self.heads.get(target), histories)


class InterestFusion:
    """Interest vectors → fused user vectors (B, D) with the target's fusion module."""

    def __init__(self, heads: TargetHeadsCache) -> None:
        self.heads = heads

    def fuse(self, target: str, interests: dict[str, np.ndarray]) -> np.ndarray:
        return fuse_interests(self.heads.get(target), interests)


class CatalogueRanker:
    """Top-k over each target's item matrix, seen items excluded; popularity for cold starts."""

    def __init__(self, catalog: BundleCatalog, heads: TargetHeadsCache, chunk_size: int | None = 65536) -> None:
        self.catalog = catalog
        self.heads = heads
        self.chunk_size = chunk_size

    def _seen_columns(self, heads: TargetModel, history: ResolvedHistory) -> np.ndarray:
        pos = np.searchsorted(heads.catalogue, history.items)
        pos = np.minimum(pos, len(heads.catalogue) - 1)
        return np.unique(pos[heads.catalogue[pos] == history.items])

    def rank(self, target: str, users: np.ndarray, histories: list[ResolvedHistory], k: int,
             exclude_seen: list[bool]) -> list[list[tuple[int, float]]]:
        """users (B, D) -> per row [(item index, score)] best first."""
        heads = self.heads.get(target)
        ranker = Ranker(normalize=heads.model.ranks_by_cosine, temperature=heads.model.cfg.fusion.temperature, chunk_size=self.chunk_size)
        exclude = [self._seen_columns(heads, h) if ex else np.zeros(0, dtype=np.int64)
                   for h, ex in zip(histories, exclude_seen, strict=True)]
        scores, cols = ranker.topk(torch.as_tensor(users), heads.catalogue_vectors, k, exclude)
        return [[(int(heads.catalogue[c]), float(s)) for c, s in zip(cr.tolist(), sr.tolist(), strict=True) if c >= 0]
                for cr, sr in zip(cols, scores, strict=True)]

    def popular(self, target: str, history: ResolvedHistory, k: int, exclude_seen: bool) -> list[tuple[int, float]]:
        heads = self.heads.get(target)
        order = np.argsort(-heads.popularity, kind="stable")
        if exclude_seen and history.items.size:
            order = order[~np.isin(order, self._seen_columns(heads, history))]
        return [(int(heads.catalogue[c]), float(heads.popularity[c])) for c in order[:k]]

    def sizes(self) -> dict[str, int]:
        return {d: int(len(self.catalog.index.domain_items(d))) for d in self.catalog.index.domains}


class RecommendationService:
    """The whole request path in-process: what the Serve graph computes, minus Serve."""

    def __init__(self, bundle_path: str | Path, device: str = "cpu", max_history: int = 200,
                 cache_capacity: int = 8) -> None:
        self.catalog = BundleCatalog(bundle_path, device)
        self.heads = TargetHeadsCache(self.catalog, cache_capacity)
        self.resolver = HistoryResolver(self.catalog, max_len=max_history)
        self.encoder = HistoryEncoder(self.heads)
        self.fusion = InterestFusion(self.heads)
        self.ranker = CatalogueRanker(self.catalog, self.heads)

    def preload(self, targets: list[str]) -> None:
        for t in targets:
            self.heads.get(t)

    def recommend_many(self, requests: list[RecommendRequest]) -> list[RecommendResponse]:
        out: list[RecommendResponse | None] = [None] * len(requests)
        by_target: dict[str, list[int]] = {}
        resolved = []
        for i, req in enumerate(requests):
            self.catalog.check_target(req.target_domain)
            resolved.append(self.resolver.resolve(req))
            by_target.setdefault(req.target_domain, []).append(i)
        for target, rows in by_target.items():
            warm = [i for i in rows if not resolved[i].empty]
            if warm:
                hist = [resolved[i] for i in warm]
                users = self.fusion.fuse(target, self.encoder.encode(target, hist))
                ranked = self.ranker.rank(target, users, hist, max(requests[i].k for i in warm),
                                          [requests[i].exclude_seen for i in warm])
                ranked = [items[: requests[i].k] for i, items in zip(warm, ranked, strict=True)]
                asked = [j for j, i in enumerate(warm) if requests[i].explain]
                reasons: dict[int, list] = {}
                if asked:
                    found = explain_rankings(self.heads.get(target), [hist[j] for j in asked],
                                             [ranked[j] for j in asked], [requests[warm[j]].explain_n for j in asked])
                    reasons = {warm[j]: r for j, r in zip(asked, found, strict=True)}
                for i, items in zip(warm, ranked, strict=True):
                    out[i] = self.respond(requests[i], resolved[i], items, cold=False, reasons=reasons.get(i))
            for i in rows:
                if resolved[i].empty:
                    items = self.ranker.popular(target, resolved[i], requests[i].k, requests[i].exclude_seen)
                    out[i] = self.respond(requests[i], resolved[i], items, cold=True)
        return out  # type: ignore[return-value]

    def recommend(self, request: RecommendRequest) -> RecommendResponse:
        return self.recommend_many([request])[0]

    def respond(self, req: RecommendRequest, hist: ResolvedHistory, items: list[tuple[int, float]],
                cold: bool, reasons: list[list[tuple[int, float]]] | None = None) -> RecommendResponse:
        return build_response(self.catalog, req, hist, items, cold, reasons)


def build_response(catalog: BundleCatalog, req: RecommendRequest, hist: ResolvedHistory,
                   items: list[tuple[int, float]], cold: bool,
                   reasons: list[list[tuple[int, float]]] | None = None) -> RecommendResponse:
    """The API response for ranked ``(item index, score)`` pairs; ``reasons`` per item (history item index,
    weight) when the request asked for explanations (a cold start has none: ``because`` is [])."""
    index = catalog.index
    if req.explain and reasons is None:
        reasons = [[] for _ in items]

    def because(r: int) -> list[Reason] | None:
        if reasons is None:
            return None
        return [Reason(**record) for record in reason_records(index, reasons[r])]

    return RecommendResponse(
        user_id=req.user_id, target_domain=req.target_domain, model_version=catalog.version,
        cold_start=cold, unknown_items=hist.unknown,
        items=[ScoredItem(item_id=str(index.item_ids[i]), text=str(index.texts[i]), score=s, because=because(r))
               for r, (i, s) in enumerate(items)],
    )
