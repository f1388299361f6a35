"""Dense item ids (:class:`ItemIndex`) and every user's time-ordered interactions in CSR form
(:class:`UserSequences`). NumPy/pandas only; both pickle cheaply (Ray ships them to workers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossrec.errors import DataValidationError


@dataclass(eq=False)
class ItemIndex:
    """Items of all domains, sorted by (domain, item_id); index 0 is padding, items are 1..N.

    Attributes:
        item_ids: (N+1,) object, ``[0] == ""``.
        item_domain: (N+1,) int64 domain index per item (``d`` refers to ``domains[d-1]``; 0 = padding).
        domains: sorted domain names.
        texts: N+1 item texts (``[0] == ""``).
    """

    item_ids: np.ndarray
    item_domain: np.ndarray
    domains: list[str]
    texts: list[str]

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> ItemIndex:
        """Build from a frame with ``item_id`` (unique), ``domain`` and ``text`` (text optional: "" if absent)."""
        frame = items.sort_values(["domain", "item_id"], kind="stable")
        if frame["item_id"].duplicated().any():
            dup = frame["item_id"][frame["item_id"].duplicated()].iloc[0]
            raise DataValidationError(f"items: duplicate item_id {dup!r}")
        domains = sorted(frame["domain"].unique().tolist())
        codes = pd.Categorical(frame["domain"], categories=domains).codes.astype(np.int64) + 1
        texts = frame["text"].astype(str).tolist() if "text" in frame else [""] * len(frame)
        return cls(
            item_ids=np.concatenate([[""], frame["item_id"].to_numpy(dtype=object)]).astype(object),
            item_domain=np.concatenate([[0], codes]).astype(np.int64),
            domains=domains,
            texts=["", *texts],
        )

    def __len__(self) -> int:
        """N + 1 (padding included)."""
        return len(self.item_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1

    def _positions(self) -> pd.Index:
        if getattr(self, "_index", None) is None:
            self._index = pd.Index(self.item_ids[1:])
        return self._index

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_index"}

    def lookup(self, ids: np.ndarray | pd.Series | list[str]) -> np.ndarray:
        """(K,) int64 item indices of ``ids``; 0 for unknown ids."""
        pos = self._positions().get_indexer(pd.Index(ids, dtype=object) if isinstance(ids, list) else ids)
        return (pos + 1).astype(np.int64)

    def domain_id(self, domain: str) -> int:
        """Domain index (1-based) of ``domain``; unknown -> DataValidationError listing the known ones."""
        if domain not in self.domains:
            raise DataValidationError(f"unknown domain {domain!r}; known domains: {', '.join(self.domains)}")
        return self.domains.index(domain) + 1

    def domain_of(self, item: int) -> str:
        """The domain name of item index ``item`` (>= 1)."""
        return self.domains[int(self.item_domain[item]) - 1]

    def domain_items(self, domain: str) -> np.ndarray:
        """(N_d,) int64 sorted item indices of ``domain`` (the catalogue of a target domain)."""
        return np.flatnonzero(self.item_domain == self.domain_id(domain)).astype(np.int64)

    def id_order(self) -> np.ndarray:
        """(N+1,) int64 rank of each item's id string in sorted id order (padding = 0)."""
        order = np.empty(len(self.item_ids), dtype=np.int64)
        order[0] = 0
        order[1 + np.asarray(self._positions().argsort())] = np.arange(1, len(self.item_ids))
        return order

    def to_frame(self) -> pd.DataFrame:
        """Items 1..N as a frame (item_id, domain, text); ``from_items(to_frame())`` round-trips."""
        return pd.DataFrame({
            "item_id": pd.array(self.item_ids[1:], dtype="str"),
            "domain": pd.array(np.array(self.domains, dtype=object)[self.item_domain[1:] - 1], dtype="str"),
            "text": pd.array(self.texts[1:], dtype="str"),
        })


@dataclass(eq=False)
class UserSequences:
    """All users' interactions in CSR form, each user's sorted by (timestamp, item_id).

    Attributes:
        user_ids: (U,) object, sorted.
        offsets: (U+1,) int64; user ``u`` owns positions ``offsets[u]:offsets[u+1]``.
        items, domains, timestamps: (M,) int64 item indices, domain indices, timestamps.
    """

    user_ids: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    domains: np.ndarray
    timestamps: np.ndarray

    @classmethod
    def from_interactions(cls, df: pd.DataFrame, item_index: ItemIndex) -> UserSequences:
        """Build from canonical interactions (user_id, item_id, timestamp); every item must be in the index."""
        items = item_index.lookup(df["item_id"])
        if (items == 0).any():
            row = int(np.flatnonzero(items == 0)[0])
            raise DataValidationError(f"interactions: row {row}: item {df['item_id'].iloc[row]!r} not in the item index")
        users, user_ids = pd.factorize(df["user_id"], sort=True)
        timestamps = df["timestamp"].to_numpy(dtype=np.int64)
        order = np.lexsort((item_index.id_order()[items], timestamps, users))
        counts = np.bincount(users, minlength=len(user_ids))
        return cls(
            user_ids=np.asarray(user_ids, dtype=object),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            items=items[order],
            domains=item_index.item_domain[items[order]],
            timestamps=timestamps[order],
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def lengths(self) -> np.ndarray:
        """(U,) int64 interactions per user."""
        return np.diff(self.offsets)

    def user_of_position(self) -> np.ndarray:
        """(M,) int64 user row of every position."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)


def keep_positions(items: np.ndarray, domains: np.ndarray, offsets: np.ndarray, cutoff: np.ndarray,
                   keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop positions from CSR sequences, order kept (e.g. a target-only view of merged histories).

    Args:
        items, domains: (M,) values of all users' sequences; offsets: (U+1,) CSR offsets.
        cutoff: (U,) leading positions per user that training may see.
        keep: (M,) bool, True for the positions to keep.
    Returns:
        items, domains, offsets, cutoff of the kept positions (the cutoff counts kept positions before it).
    """
    lengths = np.diff(offsets)
    kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept positions before each global position
    new_offsets = kept_before[offsets]
    new_cutoff = kept_before[offsets[:-1] + np.minimum(cutoff, lengths)] - new_offsets[:-1]
    return items[keep], domains[keep], new_offsets, new_cutoff
