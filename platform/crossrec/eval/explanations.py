"""Faithfulness of explanations, measured by deletion (plain PyTorch + NumPy, no Ray).

For each sampled held-out example: the model's top-1 recommendation ``j`` (seen target items excluded) is
explained by leave-one-out (:mod:`crossrec.model.explain`); then ``j``'s rank is measured again after removing

- the ``n_remove`` history items with the largest weights for ``j`` (the explanation), and
- ``n_remove`` history items drawn at random from the same considered positions,

with the same candidate set (the original history's seen items stay excluded). A faithful explanation
names items whose removal hurts ``j`` much more than random removals do. Rows report the rank drops,
overall and per slice (cold users: 0-4 target items, so their explanations are mostly source-domain items).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossrec.data.history import left_pad, readable
from crossrec.data.sequences import ItemIndex
from crossrec.data.split import TargetSplit
from crossrec.eval.metrics import rank_of_true
from crossrec.eval.protocol import visible_target_mask
from crossrec.model.explain import explain_items, leave_one_out
from crossrec.model.recommender import CrossRecModel
from crossrec.utils.progress import Progress

__all__ = ["DeletionRow", "add_explanations", "deletion_test", "reason_records", "summarize_deletions"]


@dataclass
class DeletionRow:
    """One example of the deletion test (ranks are 0-based; the explained item starts at rank 0)."""

    user_id: str
    slice: str
    item: int  # item index of the explained top-1 recommendation
    history: int  # considered history positions
    explained: list[int]  # item indices of the top explaining history items, strongest first
    explained_weights: list[float]
    explained_source_share: float  # share of the explaining items from domains other than T
    rank_without_explained: int
    rank_without_random: int


@torch.no_grad()
def deletion_test(model: CrossRecModel, split: TargetSplit, role: str = "test", n_remove: int = 3,
                  users: int | None = 2000, seed: int = 0, max_history: int = 50,
                  progress: bool = True) -> list[DeletionRow]:
    """Run the deletion test on up to ``users`` random examples of ``split``'s ``role`` whose considered history
    holds more than ``n_remove`` items. Returns one :class:`DeletionRow` per example."""
    model.eval()
    rng = np.random.default_rng(seed)
    rows = split.role(role)
    if users is not None and len(rows) > users:
        rows = rows.iloc[np.sort(rng.choice(len(rows), size=users, replace=False))]
    seq, catalogue = split.sequences, model.catalogue_vectors()
    seen = visible_target_mask(split, rows)  # (B, N_T): the same exclusions before and after removals
    out: list[DeletionRow] = []
    bar = Progress("deletion test", len(rows), unit="examples", enabled=progress)
    for b, example in enumerate(rows.itertuples(index=False)):
        bar.update(b)
        start = seq.offsets[example.user_row]
        items = seq.items[start : start + example.history_len]
        domains = seq.domains[start : start + example.history_len]
        considered = np.flatnonzero(readable(items, domains, model.only_domain))[-max_history:]
        if considered.size <= n_remove:
            continue
        full = _scores(model, [(items, domains)], catalogue)  # (1, N_T)
        top = int(np.argmax(np.where(seen[b], -np.inf, full[0])))
        expl = leave_one_out(model, items, domains, catalogue[top : top + 1], max_history)
        order = np.argsort(-np.nan_to_num(expl.weights[:, 0], nan=-np.inf), kind="stable")[:n_remove]
        strongest = expl.positions[order]
        random = rng.choice(considered, size=n_remove, replace=False)
        variants = [(np.delete(items, drop), np.delete(domains, drop)) for drop in (strongest, random)]
        after = _scores(model, variants, catalogue)  # (2, N_T)
        ranks = rank_of_true(after, np.array([top, top]), np.stack([seen[b], seen[b]]))
        out.append(DeletionRow(
            user_id=str(example.user_id), slice=str(example.slice), item=int(model.catalogue[top]),
            history=int(considered.size), explained=[int(i) for i in items[strongest]],
            explained_weights=[float(w) for w in expl.weights[order, 0]],
            explained_source_share=float(np.mean(domains[strongest] != model.target_domain)),
            rank_without_explained=int(ranks[0]), rank_without_random=int(ranks[1]),
        ))
    bar.update(len(rows))
    bar.close()
    return out


def _scores(model: CrossRecModel, histories: list[tuple[np.ndarray, np.ndarray]], catalogue: torch.Tensor) -> np.ndarray:
    """(B, N_T) scores of histories over T's catalogue (rows must hold a usable history)."""
    items, domains = left_pad(histories, model.history_window)
    users = model.user_vectors(torch.from_numpy(items).to(catalogue.device), torch.from_numpy(domains).to(catalogue.device))
    return model.scores(users, catalogue).float().cpu().numpy()


def summarize_deletions(rows: list[DeletionRow]) -> dict[str, dict[str, Any]]:
    """Per slice (overall, cold, warm): examples, mean / median rank of the explained item after removing its
    explanation vs random items, their ratio, the share of examples where the explanation hurts more, and the
    share of explaining items from source domains."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("overall", "cold", "warm"):
        part = [r for r in rows if name == "overall" or r.slice == name]
        if not part:
            continue
        expl = np.array([r.rank_without_explained for r in part], dtype=np.float64)
        rand = np.array([r.rank_without_random for r in part], dtype=np.float64)
        out[name] = {
            "examples": len(part),
            "mean_rank_drop_explained": float(expl.mean()), "mean_rank_drop_random": float(rand.mean()),
            "median_rank_drop_explained": float(np.median(expl)), "median_rank_drop_random": float(np.median(rand)),
            "drop_ratio": float(expl.mean() / max(rand.mean(), 1e-9)),
            "explained_hurts_more": float(np.mean(expl > rand)),
            "left_top10_explained": float(np.mean(expl >= 10)), "left_top10_random": float(np.mean(rand >= 10)),
            "source_share_of_explanations": float(np.mean([r.explained_source_share for r in part])),
        }
    return out


def reason_records(index: ItemIndex, reasons: list[tuple[int, float]], digits: int | None = None) -> list[dict[str, Any]]:
    """``[{item_id, domain, text, weight}]`` (the API's ``because``) of (history item index, weight) pairs;
    ``digits`` rounds the weights (files)."""
    return [{"item_id": str(index.item_ids[i]), "domain": index.domain_of(i), "text": str(index.texts[i]),
             "weight": round(float(w), digits) if digits is not None else float(w)} for i, w in reasons]


def add_explanations(path: Path, model: CrossRecModel, split: TargetSplit, role: str, n: int = 3,
                     max_history: int = 50, progress: bool = True) -> Path:
    """Add ``"because": [[{item_id, domain, text, weight}] per item]`` to every line of a predictions JSONL
    written by :func:`crossrec.eval.runner.evaluate` for ``split``'s ``role`` (same rows, same order)."""
    from crossrec.utils.io import atomic_write_text

    rows = split.role(role)
    lines = Path(path).read_text().splitlines()
    if len(lines) != len(rows):
        raise ValueError(f"{path}: {len(lines)} predictions for {len(rows)} {role} examples")
    seq, index, catalogue = split.sequences, split.item_index, model.catalogue_vectors()
    position = model.catalogue_position.cpu().numpy()
    out = []
    bar = Progress("explaining predictions", len(rows), unit="users", enabled=progress)
    for example, line in zip(rows.itertuples(index=False), lines, strict=True):
        record = json.loads(line)
        start = seq.offsets[example.user_row]
        items = seq.items[start : start + example.history_len]
        domains = seq.domains[start : start + example.history_len]
        columns = torch.as_tensor(position[index.lookup(record["items"])])
        reasons = explain_items(model, items, domains, catalogue[columns], n, max_history)
        record["because"] = [reason_records(index, r, digits=6) for r in reasons]
        out.append(json.dumps(record))
        bar.advance()
    bar.close()
    return atomic_write_text(Path(path), "\n".join(out) + ("\n" if out else ""))
