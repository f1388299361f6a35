"""Catalogue updates of a running service: versioned overlays over a bundle, published atomically.

A bundle's item index is fixed at training time; items added (or removed) later live in an *overlay*, one
directory per published version, each cumulative (everything added and removed since the bundle)::

    <root>/<bundle version>/CURRENT                 "3": the version replicas serve (replaced atomically, last)
    <root>/<bundle version>/v000003/overlay.json    added items (index, item_id, domain, text), removed ids
    <root>/<bundle version>/v000003/<T>.safetensors {"indices": (A_T,), "vectors": (A_T, D)} added items of T,
                                                    text-only item-tower vectors of T's heads

Added items get item indices after the bundle's ``N`` (``N + 1``, ``N + 2``, …) that never change or get reused
(a removed added item keeps its row; its id is in ``removed``), so a replica one version behind another still names
the same item by the same index. A version directory is written under a temporary name and renamed; ``CURRENT``
is replaced (``os.replace``) only after it is complete, so a reader never sees half an update. Writers hold an
exclusive ``flock`` on ``<root>/<bundle version>/.lock`` and publish only on top of the version they read.

Readers (:meth:`CatalogueStore.current`) ``stat`` ``CURRENT`` on each call (microseconds) and re-read only when
it changed: every replica (Ingress, Ranker; any number of them) sees a new version on its next call after
``CURRENT`` was replaced, with no restart and no push. The root must be one filesystem every replica sees (a
cluster's shared storage); overlays are per bundle version, so a new bundle starts from its own catalogue.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from crossrec.utils.io import atomic_write_text
from crossrec.utils.tensors import load_tensors, save_tensors

if TYPE_CHECKING:
    from crossrec.data.sequences import ItemIndex
    from crossrec.model.bundle import TargetModel


@dataclass(frozen=True)
class AddedItem:
    index: int  # > N, stable across versions
    item_id: str
    domain: str
    text: str


@dataclass
class RankedCatalogue:
    """What the Ranker ranks for one target: the bundle's catalogue without removed items, plus added ones.

    catalogue (N',) sorted item indices (added ones last: their indices are above the bundle's), catalogue_vectors
    (N', D), popularity (N',) (0 for added items). ``whole``: the bundle's catalogue unchanged. Otherwise
    ``removed_columns`` are the bundle catalogue's columns left out and the last ``n_added`` rows are added items:
    the bundle's ANN index (which covers the bundle's catalogue) still proposes its part, with the removed columns
    excluded, and the added rows are scored exactly beside it (:func:`crossrec.serve.inference.rank_batch`)."""

    heads: TargetModel
    catalogue: np.ndarray
    catalogue_vectors: torch.Tensor
    popularity: np.ndarray
    whole: bool = True
    removed_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kept_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # view column -> bundle column
    n_added: int = 0

    @property
    def model(self):
        return self.heads.model

    @property
    def ann(self):
        """The bundle's ANN index over its whole catalogue (None: the bundle has none)."""
        return self.heads.ann

    @property
    def ann_file(self):
        return self.heads.ann_file

    @classmethod
    def of(cls, heads: TargetModel) -> RankedCatalogue:
        return cls(heads, heads.catalogue, heads.catalogue_vectors, heads.popularity)


@dataclass
class CatalogueOverlay:
    """One published catalogue version (0: nothing published, the bundle alone). Immutable once read.

    ``items``: every item ever added, in index order (a removed one stays, so its index keeps its meaning);
    ``removed``: ids (bundle or added) never recommended; they still count as known in a history."""

    version: int = 0
    base_size: int = 0  # N: the bundle's items are 1..N
    items: tuple[AddedItem, ...] = ()
    removed: frozenset[str] = frozenset()  # removed ids (bundle or added)
    removed_bundle: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # their bundle indices
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # T -> (indices, (A_T, D))
    _ranked: dict[str, RankedCatalogue] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {item.item_id: item for item in self.items}

    @property
    def empty(self) -> bool:
        return not self.items and not self.removed

    def added(self, item_id: str) -> AddedItem | None:
        """The added item ``item_id`` (active or not), or None."""
        return self._by_id.get(item_id)

    def entry(self, index: int) -> AddedItem | None:
        pos = index - self.base_size - 1
        return self.items[pos] if 0 <= pos < len(self.items) else None

    def domain_delta(self, domain: str, index: ItemIndex) -> int:
        """How many items this overlay adds to (minus removes from) ``domain``'s catalogue."""
        added = sum(1 for i in self.items if i.domain == domain and i.item_id not in self.removed)
        return added - int(np.sum(index.item_domain[self.removed_bundle] == index.domain_id(domain)))

    def ranked(self, heads: TargetModel) -> RankedCatalogue:
        """The Ranker's view of ``heads``' target under this overlay (built once per version and target)."""
        target = heads.target
        if self.empty:
            return RankedCatalogue.of(heads)
        cached = self._ranked.get(target)
        if cached is not None and cached.heads is heads:  # a reloaded target (evicted heads) is rebuilt
            return cached
        catalogue = heads.catalogue
        keep = ~np.isin(catalogue, self.removed_bundle)
        indices, vectors = self.vectors.get(target, (np.zeros(0, np.int64), None))
        active = np.array([self.entry(int(i)).item_id not in self.removed for i in indices], dtype=bool)
        if keep.all() and not active.any():
            view = RankedCatalogue.of(heads)
        else:
            base = heads.catalogue_vectors[torch.from_numpy(np.flatnonzero(keep))]
            extra = torch.from_numpy(vectors[active]).to(base.device, base.dtype) if active.any() else base[:0]
            view = RankedCatalogue(heads, np.concatenate([catalogue[keep], indices[active]]).astype(np.int64),
                                   torch.cat([base, extra]),
                                   np.concatenate([heads.popularity[keep], np.zeros(int(active.sum()), np.float32)]),
                                   whole=False, removed_columns=np.flatnonzero(~keep),
                                   kept_columns=np.flatnonzero(keep), n_added=int(active.sum()))
        self._ranked[target] = view
        return view


def default_catalogue_dir(bundle: str) -> str | None:
    """Where a service publishes catalogue updates by default: ``<bundle>.catalogue`` beside a local bundle
    directory; None (updates off) for a bundle URI, whose replicas may share no filesystem."""
    from crossrec.utils.storage import is_uri

    return None if is_uri(bundle) else f"{Path(bundle).resolve()}.catalogue"


class ConcurrentUpdateError(RuntimeError):
    """Another writer published since this update's overlay was read: re-read and plan again."""


class CatalogueStore:
    """The published versions of one bundle's catalogue under ``root`` (None: updates off, always version 0)."""

    def __init__(self, root: str | Path | None, bundle_version: str, index: ItemIndex) -> None:
        self.dir = Path(root) / bundle_version if root is not None else None
        self.index = index
        self.base_size = len(index.item_ids) - 1
        self._stat: tuple[int, int, int] | None = None
        self._current = CatalogueOverlay(base_size=self.base_size)

    @property
    def enabled(self) -> bool:
        return self.dir is not None

    def current(self) -> CatalogueOverlay:
        """The published version (re-read only when ``CURRENT`` changed since the last call)."""
        if self.dir is None:
            return self._current
        try:
            st = os.stat(self.dir / "CURRENT")
        except FileNotFoundError:
            return self._current
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._stat:
            self._current = self._read(int((self.dir / "CURRENT").read_text().strip()))
            self._stat = key
        return self._current

    def refresh(self) -> CatalogueOverlay:
        self._stat = None
        return self.current()

    def _read(self, version: int) -> CatalogueOverlay:
        vdir = self.dir / f"v{version:06d}"
        meta = json.loads((vdir / "overlay.json").read_text())
        vectors = {}
        for path in sorted(vdir.glob("*.safetensors")):
            t = load_tensors(path)
            vectors[path.stem] = (t["indices"].numpy().astype(np.int64), t["vectors"].numpy())
        removed = frozenset(meta["removed"])
        in_bundle = self.index.lookup(sorted(removed)) if removed else np.zeros(0, np.int64)
        return CatalogueOverlay(version, self.base_size, tuple(AddedItem(**i) for i in meta["items"]), removed,
                                np.sort(in_bundle[in_bundle > 0]), vectors)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes (and hosts sharing a filesystem with working ``flock``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def publish(self, parent: int, items: list[AddedItem], removed: set[str],
                vectors: dict[str, tuple[np.ndarray, np.ndarray]]) -> CatalogueOverlay:
        """Write version ``parent + 1`` and make it current. Call inside :meth:`locked`; raises
        :class:`ConcurrentUpdateError` when ``parent`` is no longer the current version."""
        if self.refresh().version != parent:
            raise ConcurrentUpdateError(f"catalogue version {self._current.version} was published meanwhile")
        version = parent + 1
        final = self.dir / f"v{version:06d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=self.dir))
        meta: dict[str, Any] = {"version": version, "base_size": self.base_size,
                                "items": [vars(i) for i in items], "removed": sorted(removed)}
        (tmp / "overlay.json").write_text(json.dumps(meta, indent=1))
        for target, (indices, vecs) in vectors.items():
            save_tensors({"indices": torch.as_tensor(indices, dtype=torch.int64),
                          "vectors": torch.as_tensor(vecs, dtype=torch.float32)}, tmp / f"{target}.safetensors")
        if final.exists():  # left by a writer that died between the rename and CURRENT: never served
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(self.dir / "CURRENT", f"{version}\n")
        return self.refresh()


__all__ = ["AddedItem", "CatalogueOverlay", "CatalogueStore", "ConcurrentUpdateError", "RankedCatalogue",
           "default_catalogue_dir"]
