"""Typed messages between the serving stages (plain dataclasses of NumPy arrays; no Ray, no torch).

One message per stage call and per batch of rows of one target, carrying the bundle version it was made for
(a stage holding another version refuses it: :class:`StaleBundleError`, HTTP 503, retry)::

    Ingress ─ HistoryBatch ─► Encoder ─ InterestBatch ─► Fusion ─ QueryBatch ─┐
    Ingress ─ RankPlan (seen items, k, cold rows) ───────────────────────────► Ranker ─ RankedBatch ─► Ingress

Arrays are packed (one (B, L) matrix, one flat seen-item array with offsets) rather than lists of per-row
objects: they pickle as a few buffers, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crossrec.data.history import left_pad


class StaleBundleError(RuntimeError):
    """A replica holds another bundle version than the request expects (rolling update): HTTP 503, retry."""


@dataclass(frozen=True)
class Message:
    """What every message carries: the bundle version it was made for and its target domain."""

    version: str
    target: str

    def check(self, version: str | None, stage: str) -> None:
        """Raise :class:`StaleBundleError` unless this message was made for ``version``."""
        if self.version != version:
            raise StaleBundleError(f"{stage} replica serves bundle {version!r}, the request expects {self.version!r}")


@dataclass(frozen=True)
class HistoryBatch(Message):
    """B users' history items, most recent last: items/domains (B, L) int64, left-padded with 0.
    Rows with an empty history are not sent (they are cold starts, ranked by popularity).

    Items outside the bundle (*open* items: request-time text, or added by a catalogue update) hold any index
    > 0 in ``items`` and a slot in ``slots`` (B, L) int32 (-1 elsewhere) into ``texts``: the distinct
    (domain, text) pairs the Encoder embeds. ``slots`` is None when every item is a bundle item."""

    items: np.ndarray
    domains: np.ndarray
    slots: np.ndarray | None = None
    texts: tuple[tuple[str, str], ...] = ()

    @classmethod
    def pack(cls, version: str, target: str, histories: Sequence[tuple[np.ndarray, np.ndarray]],
             open_items: Sequence[Sequence[tuple[int, str, str]]] | None = None) -> HistoryBatch:
        """From per-row (items (L_b,), domains (L_b,)) pairs; ``open_items``: per row, (position in the row,
        domain, text) of its open items."""
        items, domains = left_pad(histories)
        if not open_items or not any(open_items):
            return cls(version, target, items, domains)
        slots = np.full(items.shape, -1, dtype=np.int32)
        texts: dict[tuple[str, str], int] = {}
        for b, ((row, _), found) in enumerate(zip(histories, open_items, strict=True)):
            shift = items.shape[1] - len(row)
            for pos, domain, text in found:
                slots[b, shift + pos] = texts.setdefault((domain, text), len(texts))
        return cls(version, target, items, domains, slots, tuple(texts))

    def fit(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """items, domains, slots cropped or left-padded to exactly ``width`` columns (the latest items)."""
        length = self.items.shape[1]
        if length >= width:
            cut = slice(length - width, None)
            return self.items[:, cut], self.domains[:, cut], None if self.slots is None else self.slots[:, cut]
        pad = ((0, 0), (width - length, 0))
        slots = None if self.slots is None else np.pad(self.slots, pad, constant_values=-1)
        return np.pad(self.items, pad), np.pad(self.domains, pad), slots

    def rows(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per row (items (L_b,), domains (L_b,), slots (L_b,)) without padding: the row's history as packed
        (position l of a row is position l of its request's resolved history); slots -1 for bundle items."""
        slots = np.full(self.items.shape, -1, dtype=np.int32) if self.slots is None else self.slots
        return [(i[k], d[k], s[k]) for i, d, s, k in zip(self.items, self.domains, slots, self.items > 0, strict=True)]

    def select(self, rows: Sequence[int]) -> HistoryBatch:
        rows = list(rows)
        if self.slots is None:
            return HistoryBatch(self.version, self.target, self.items[rows], self.domains[rows])
        return HistoryBatch(self.version, self.target, self.items[rows], self.domains[rows], self.slots[rows],
                            self.texts)

    def __len__(self) -> int:
        return int(self.items.shape[0])


@dataclass(frozen=True)
class InterestBatch(Message):
    """The Encoder's output at the last history position: source / target_interest / hidden (B, D) float32,
    domain (D,) the target domain's embedding, has_target (B,) bool (the row has target-domain history)."""

    source: np.ndarray
    target_interest: np.ndarray
    hidden: np.ndarray
    domain: np.ndarray
    has_target: np.ndarray


@dataclass(frozen=True)
class QueryBatch(Message):
    """The Fusion's output: ranking queries (B, D) float32, one per warm row."""

    queries: np.ndarray


@dataclass(frozen=True)
class RankPlan(Message):
    """What the Ranker needs besides the queries, for all B rows of one target (warm and cold).

    k: items per row (the largest any row asked for); cold (B,) bool: rows answered by popularity, in order
    (warm rows take the queries in order); seen_items (S,) int64 with seen_offsets (B + 1,): row b's
    target-domain history items to exclude are ``seen_items[seen_offsets[b]:seen_offsets[b + 1]]`` (none when
    the request set ``exclude_seen: false``)."""

    k: int
    cold: np.ndarray
    seen_items: np.ndarray
    seen_offsets: np.ndarray

    @classmethod
    def build(cls, version: str, target: str, k: int, cold: Sequence[bool],
              seen: Sequence[np.ndarray]) -> RankPlan:
        sizes = np.fromiter((len(s) for s in seen), dtype=np.int64, count=len(seen))
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in seen]) if len(seen) else np.zeros(0, np.int64)
        return cls(version, target, int(k), np.asarray(cold, dtype=bool), flat,
                   np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    def seen(self, row: int) -> np.ndarray:
        return self.seen_items[self.seen_offsets[row] : self.seen_offsets[row + 1]]

    def __len__(self) -> int:
        return int(self.cold.shape[0])


@dataclass(frozen=True)
class RankedBatch(Message):
    """The Ranker's answer for the B rows of a :class:`RankPlan`: items (B, k) int64 item indices, best first
    (-1 pads a row with fewer allowed items), scores (B, k) float32 (popularity for cold rows)."""

    items: np.ndarray
    scores: np.ndarray
    catalogue_version: int = 0  # the catalogue update ranked against (item indices above the bundle's refer to it)

    def row(self, b: int, k: int) -> list[tuple[int, float]]:
        """Row ``b``'s first ``k`` (item index, score) pairs, padding dropped."""
        return [(int(i), float(s)) for i, s in zip(self.items[b, :k].tolist(), self.scores[b, :k].tolist(),
                                                    strict=True) if i >= 0]
