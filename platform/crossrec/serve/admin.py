"""Catalogue updates as a plain class: authorise, validate, embed the new items, publish a new version.

``POST /admin/catalogue`` (every layout) and ``crossrec catalogue add|remove`` both call
:meth:`CatalogueAdmin.apply`; how the new items' vectors are computed is a collaborator (the Encoder stage:
a deployment handle in the composed graph, the in-process stage otherwise).

Rules (each a 4xx naming the field; a repeated call is a no-op, so a client may retry):

- ``add[i].domain`` must be one of the bundle's domains (422). Items of a target domain become recommendable
  there; items of other domains are only read in histories.
- An id already in the catalogue (bundle or added) with the same domain and text: nothing to do (a removed one
  is restored); with another domain or text: 409 (ids are immutable: remove it and add a new id).
- An id given twice in ``add``, or both added and removed: 422. ``remove[j]`` must name a catalogue item (422).
- Heads that cannot read text (``tower.use_text: false``) cannot rank an added item: 409.
- Without ``CROSSREC_ADMIN_TOKEN`` in the serving processes' environment the admin API is off (403); a call
  without ``Authorization: Bearer <token>``, or with another token, gets 401.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from crossrec.serve.catalogue import AddedItem, CatalogueOverlay, ConcurrentUpdateError
from crossrec.serve.inference import BundleCatalog, RequestError
from crossrec.serve.schemas import CatalogueUpdateRequest

TOKEN_ENV = "CROSSREC_ADMIN_TOKEN"

VectorsFn = Callable[[str, list[str]], Awaitable[np.ndarray]]  # (target, texts) -> (N, D)


@dataclass
class CataloguePlan:
    """What an update changes on top of ``parent``: the full new item list and removed set, the new items of
    each target that need vectors, and the ids this call added / removed (no-ops left out)."""

    parent: CatalogueOverlay
    items: list[AddedItem]
    removed: set[str]
    fresh: dict[str, list[AddedItem]] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    removed_now: list[str] = field(default_factory=list)


def plan_update(catalog: BundleCatalog, parent: CatalogueOverlay, request: CatalogueUpdateRequest) -> CataloguePlan:
    """Validate ``request`` against the bundle and ``parent`` (RequestError 409/422 naming the field)."""
    index = catalog.index
    plan = CataloguePlan(parent, list(parent.items), set(parent.removed))
    adding = {item.item_id for item in request.add}
    seen: set[str] = set()
    for i, item in enumerate(request.add):
        where = f"add[{i}]"
        if item.domain not in index.domains:
            raise RequestError(f"{where}.domain", f"unknown domain {item.domain!r}; known: {index.domains}")
        if item.item_id in seen:
            raise RequestError(f"{where}.item_id", f"{item.item_id!r} is given twice")
        seen.add(item.item_id)
        if item.item_id in request.remove:
            raise RequestError(f"{where}.item_id", f"{item.item_id!r} is both added and removed")
        known = _existing(catalog, parent, item.item_id)
        if known is not None:
            if known != (item.domain, item.text):
                raise RequestError(f"{where}.item_id", f"{item.item_id!r} is already in the catalogue with another "
                                   "domain or text; ids are immutable: remove it and add a new id", 409)
            if item.item_id in plan.removed:  # restored: its vectors are still there
                plan.removed.discard(item.item_id)
                plan.added.append(item.item_id)
            continue
        if item.domain in catalog.targets and not catalog.reads_text:
            raise RequestError(f"{where}.domain", f"the heads of target {item.domain!r} have no text side "
                               "(tower.use_text is false): a new item cannot be ranked before retraining", 409)
        new = AddedItem(catalog.store.base_size + len(plan.items) + 1, item.item_id, item.domain, item.text)
        plan.items.append(new)
        plan.added.append(item.item_id)
        if item.domain in catalog.targets:
            plan.fresh.setdefault(item.domain, []).append(new)
    for j, item_id in enumerate(request.remove):
        if item_id not in adding and _existing(catalog, parent, item_id) is None:
            raise RequestError(f"remove[{j}]", f"unknown item {item_id!r}")
        if item_id not in plan.removed:
            plan.removed.add(item_id)
            plan.removed_now.append(item_id)
    return plan


def _existing(catalog: BundleCatalog, overlay: CatalogueOverlay, item_id: str) -> tuple[str, str] | None:
    """(domain, text) of a catalogue item (bundle or added), None when the id is new."""
    added = overlay.added(item_id)
    if added is not None:
        return added.domain, added.text
    i = int(catalog.index.lookup([item_id])[0])
    return (catalog.index.domain_of(i), str(catalog.index.texts[i])) if i > 0 else None


class CatalogueAdmin:
    """Authorised catalogue updates of one bundle's catalogue (``catalog.store``)."""

    def __init__(self, catalog: BundleCatalog, vectors: VectorsFn, token: str | None = None) -> None:
        self.catalog = catalog
        self.vectors = vectors
        self.token = token

    @classmethod
    def from_env(cls, catalog: BundleCatalog, vectors: VectorsFn) -> CatalogueAdmin:
        return cls(catalog, vectors, os.environ.get(TOKEN_ENV) or None)

    def authorize(self, authorization: str | None) -> None:
        """RequestError 403 when no token is configured, 401 for a missing or wrong ``Bearer`` token."""
        if not self.token:
            raise RequestError("authorization", f"the admin API is off: set {TOKEN_ENV} in the serving "
                               "processes' environment", 403)
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise RequestError("authorization", "missing or wrong admin token (Authorization: Bearer <token>)", 401)

    async def apply(self, request: CatalogueUpdateRequest, attempts: int = 3) -> dict:
        """Publish ``request`` as a new catalogue version (the response of ``POST /admin/catalogue``)."""
        store = self.catalog.store
        if not store.enabled:
            raise RequestError("catalogue", "catalogue updates are off: the service has no catalogue directory "
                               "(args.catalogue; a bundle URI has no default)", 409)
        for attempt in range(attempts):
            plan = plan_update(self.catalog, store.refresh(), request)
            if not plan.added and not plan.removed_now:
                return self._response(store.current().version, plan)
            vectors = {t: (idx.copy(), vec.copy()) for t, (idx, vec) in plan.parent.vectors.items()}
            for target, items in plan.fresh.items():
                new = np.asarray(await self.vectors(target, [i.text for i in items]), dtype=np.float32)
                idx, vec = vectors.get(target, (np.zeros(0, np.int64), np.zeros((0, new.shape[1]), np.float32)))
                vectors[target] = (np.concatenate([idx, [i.index for i in items]]).astype(np.int64),
                                   np.concatenate([vec, new]))
            try:
                with store.locked():
                    published = store.publish(plan.parent.version, plan.items, plan.removed, vectors)
                return self._response(published.version, plan)
            except ConcurrentUpdateError:
                if attempt == attempts - 1:
                    raise RequestError("catalogue", "other updates kept being published meanwhile; retry", 409) from None
        raise AssertionError("unreachable")

    def _response(self, version: int, plan: CataloguePlan) -> dict:
        return {"model_version": self.catalog.version, "catalogue_version": version, "added": plan.added,
                "removed": plan.removed_now}


__all__ = ["TOKEN_ENV", "CatalogueAdmin", "CataloguePlan", "plan_update"]
