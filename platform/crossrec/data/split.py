"""The benchmark split of BENCHMARK.md: temporal leave-one-out in a target domain T, vectorised.

For each user with interactions in T (ordered by (timestamp, item_id)): test = last T interaction, valid =
second-to-last for users with >= 3 T interactions. A held-out interaction at time t sees the user's
interactions of every domain with timestamp < t (same-second ones are hidden). Training sees, per user, what
their valid interaction sees (their test one's when they have no valid one); users without T interactions
keep their whole sequence for training and are never evaluated in T.

An item-cold-start split (:mod:`crossrec.data.cold_start`) also names ``hidden_items``: items that training never
reads (their positions are dropped from the training prefixes); held-out examples and the visible histories of
evaluation keep them. Every training reader goes through :meth:`TargetSplit.training_sequences`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossrec.data.dataset import Dataset
from crossrec.data.sequences import ItemIndex, UserSequences, keep_positions
from crossrec.errors import DataValidationError
from crossrec.utils.io import atomic_directory, atomic_write_json

COLD_MAX = 4  # target history sizes 0..COLD_MAX are "cold", larger ones "warm"
MIN_TARGET_FOR_VALID = 3
SPLIT_FORMAT = 1
EXAMPLE_COLUMNS = ["user_id", "user_row", "role", "item_id", "item_idx", "timestamp", "history_len",
                   "target_history_len", "slice"]


@dataclass(eq=False)
class TargetSplit:
    """Split of one target domain (see docs/architecture.md).

    Attributes:
        target: target domain name.
        item_index: all items of all domains.
        sequences: every user's interactions (all domains), sorted by (timestamp, item_id).
        examples: one row per held-out interaction, columns :data:`EXAMPLE_COLUMNS`; valid rows first, then test
            rows, each in user-row order.
        train_cutoff: (U,) int64 leading interactions per user that training may see.
        target_items: (N_T,) int64 sorted item indices of T's catalogue (score-column order).
        hidden_items: (H,) int64 sorted item indices hidden from training (item cold start; empty by default):
            no training prefix holds them, while examples and evaluation histories keep them.
    """

    target: str
    item_index: ItemIndex
    sequences: UserSequences
    examples: pd.DataFrame
    train_cutoff: np.ndarray
    target_items: np.ndarray
    hidden_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def training_positions(self) -> np.ndarray:
        """(M,) bool over ``sequences``: the positions training may read (inside the user's ``train_cutoff``
        prefix, and not an interaction with a hidden item)."""
        seq = self.sequences
        rel = np.arange(len(seq.items)) - np.repeat(seq.offsets[:-1], seq.lengths)
        inside = rel < np.repeat(self.train_cutoff, seq.lengths)
        return inside & ~np.isin(seq.items, self.hidden_items) if len(self.hidden_items) else inside

    def training_sequences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What a training reader sees, in CSR form: ``items, domains, offsets, cutoff, timestamps`` ((M',),
        (M',), (U+1,), (U,), (M',)) with the hidden items' positions dropped (order kept, ``cutoff`` counting the
        kept positions); the split's own arrays when nothing is hidden. Training reads ``cutoff`` per user."""
        seq = self.sequences
        if not len(self.hidden_items):
            return seq.items, seq.domains, seq.offsets, self.train_cutoff, seq.timestamps
        keep = ~np.isin(seq.items, self.hidden_items)
        return (*keep_positions(seq.items, seq.domains, seq.offsets, self.train_cutoff, keep), seq.timestamps[keep])

    def training_item_counts(self) -> np.ndarray:
        """(N+1,) int64 interactions of every item inside the training prefixes (0 for hidden items, for items
        seen only in held-out examples or after them, and for padding)."""
        counts = np.bincount(self.sequences.items[self.training_positions()], minlength=self.item_index.n_items + 1)
        counts[0] = 0
        return counts

    def role(self, role: str) -> pd.DataFrame:
        """The examples of one role ("valid" | "test")."""
        if role not in ("valid", "test"):
            raise DataValidationError(f"role must be 'valid' or 'test', got {role!r}")
        return self.examples[self.examples["role"] == role]

    def summary(self) -> dict[str, Any]:
        """Test users overall / cold / cold with no target history / warm, valid users, target items (and the
        items hidden from training, when some are)."""
        test = self.role("test")
        return {
            "target": self.target,
            "test_users": len(test),
            "cold": int((test["slice"] == "cold").sum()),
            "cold_zero": int((test["target_history_len"] == 0).sum()),
            "warm": int((test["slice"] == "warm").sum()),
            "valid_users": len(self.role("valid")),
            "target_items": len(self.target_items),
        } | ({"hidden_items": len(self.hidden_items)} if len(self.hidden_items) else {})

    def save(self, directory: str | Path) -> Path:
        """Write the split as Parquet + JSON, atomically; :func:`load_split` reads it back."""
        seq = self.sequences
        with atomic_directory(Path(directory)) as tmp:
            self.item_index.to_frame().to_parquet(tmp / "items.parquet", index=False)
            pd.DataFrame({"item_idx": seq.items, "domain_idx": seq.domains, "timestamp": seq.timestamps}).to_parquet(
                tmp / "sequences.parquet", index=False)
            pd.DataFrame({"user_id": pd.array(seq.user_ids, dtype="str"), "length": seq.lengths,
                          "train_cutoff": self.train_cutoff}).to_parquet(tmp / "users.parquet", index=False)
            self.examples.to_parquet(tmp / "examples.parquet", index=False)
            atomic_write_json(tmp / "split.json", {"format": SPLIT_FORMAT, "target": self.target,
                                                   "domains": self.item_index.domains, "summary": self.summary(),
                                                   "hidden_items": [int(i) for i in self.hidden_items]})
        return Path(directory)


def visible_lengths(seq: UserSequences) -> np.ndarray:
    """(M,) int64: for each position, how many of its user's interactions have a strictly smaller timestamp.

    Because sequences are time-sorted, these are the first ``visible_lengths[p]`` positions of the user.
    """
    m = len(seq.items)
    user = seq.user_of_position()
    new_run = np.ones(m, dtype=bool)
    new_run[1:] = (user[1:] != user[:-1]) | (seq.timestamps[1:] != seq.timestamps[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(m), 0))
    return run_start - seq.offsets[user]


def _held_out_positions(seq: UserSequences, is_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global positions of each user's last T interaction and (users with >= 3) second-to-last one."""
    target_pos = np.flatnonzero(is_target)
    per_user = np.bincount(seq.user_of_position()[target_pos], minlength=seq.n_users)
    ends = np.cumsum(per_user)  # exclusive end of each user's run inside target_pos
    test = target_pos[ends[per_user > 0] - 1]
    valid = target_pos[ends[per_user >= MIN_TARGET_FOR_VALID] - 2]
    return test, valid


def _examples(seq: UserSequences, index: ItemIndex, positions: np.ndarray, role: str, visible: np.ndarray,
              target_before: np.ndarray) -> pd.DataFrame:
    user = seq.user_of_position()[positions]
    history = visible[positions]
    target_history = target_before[seq.offsets[user] + history] - target_before[seq.offsets[user]]
    return pd.DataFrame({
        "user_id": pd.array(seq.user_ids[user], dtype="str"),
        "user_row": user,
        "role": role,
        "item_id": pd.array(index.item_ids[seq.items[positions]], dtype="str"),
        "item_idx": seq.items[positions],
        "timestamp": seq.timestamps[positions],
        "history_len": history,
        "target_history_len": target_history,
        "slice": np.where(target_history <= COLD_MAX, "cold", "warm"),
    })


def split_target(dataset: Dataset, target: str) -> TargetSplit:
    """Split ``dataset`` for target domain ``target`` per BENCHMARK.md (unknown target -> DataValidationError)."""
    if target not in dataset.domains:
        raise DataValidationError(
            f"unknown target domain {target!r} for dataset {dataset.name!r}; known domains: {', '.join(dataset.domains)}"
        )
    index = ItemIndex.from_items(dataset.items)
    seq = UserSequences.from_interactions(dataset.interactions, index)
    return split_sequences(index, seq, target)


def split_sequences(index: ItemIndex, seq: UserSequences, target: str) -> TargetSplit:
    """:func:`split_target` on an already built index and sequences (reuse them across targets)."""
    is_target = seq.domains == index.domain_id(target)
    visible = visible_lengths(seq)
    target_before = np.concatenate([[0], np.cumsum(is_target)])  # T interactions before each global position
    test, valid = _held_out_positions(seq, is_target)
    examples = pd.concat([_examples(seq, index, valid, "valid", visible, target_before),
                          _examples(seq, index, test, "test", visible, target_before)], ignore_index=True)
    cutoff = seq.lengths.copy()
    cutoff[seq.user_of_position()[test]] = visible[test]
    cutoff[seq.user_of_position()[valid]] = visible[valid]
    return TargetSplit(target=target, item_index=index, sequences=seq, examples=examples[EXAMPLE_COLUMNS],
                       train_cutoff=cutoff.astype(np.int64), target_items=index.domain_items(target))


def _read(directory: Path, name: str) -> pd.DataFrame:
    path = directory / name
    if not path.is_file():
        raise DataValidationError(f"{path}: file not found (not a saved split?)")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataValidationError(f"{path}: not a readable Parquet file: {str(err).splitlines()[0]}") from None


def load_split(directory: str | Path) -> TargetSplit:
    """Read a split written by :meth:`TargetSplit.save`."""
    directory = Path(directory)
    meta_path = directory / "split.json"
    if not meta_path.is_file():
        raise DataValidationError(f"{meta_path}: file not found (not a saved split?)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != SPLIT_FORMAT:
        raise DataValidationError(f"{meta_path}: unsupported split format {meta.get('format')!r} (expected {SPLIT_FORMAT})")
    index = ItemIndex.from_items(_read(directory, "items.parquet"))
    flat, users = _read(directory, "sequences.parquet"), _read(directory, "users.parquet")
    seq = UserSequences(
        user_ids=users["user_id"].to_numpy(dtype=object),
        offsets=np.concatenate([[0], np.cumsum(users["length"].to_numpy(dtype=np.int64))]).astype(np.int64),
        items=flat["item_idx"].to_numpy(dtype=np.int64),
        domains=flat["domain_idx"].to_numpy(dtype=np.int64),
        timestamps=flat["timestamp"].to_numpy(dtype=np.int64),
    )
    if seq.offsets[-1] != len(seq.items):
        raise DataValidationError(f"{directory / 'users.parquet'}: lengths sum to {seq.offsets[-1]}, "
                                  f"but sequences.parquet has {len(seq.items)} rows")
    return TargetSplit(target=meta["target"], item_index=index, sequences=seq,
                       examples=_read(directory, "examples.parquet")[EXAMPLE_COLUMNS],
                       train_cutoff=users["train_cutoff"].to_numpy(dtype=np.int64),
                       target_items=index.domain_items(meta["target"]),
                       hidden_items=np.asarray(meta.get("hidden_items", []), dtype=np.int64))
