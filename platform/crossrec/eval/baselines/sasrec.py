"""SASRec baselines of BENCHMARK.md: a target-only and a merged-sequence self-attentive next-item model.

Reference: Kang & McAuley, "Self-Attentive Sequential Recommendation" (2018), as in RecBole's ``sasrec.py``:
item-ID embedding + learned positions, a causal transformer, and a full-softmax next-item cross-entropy whose
output layer is the item embedding table (weight tying). Deviations from RecBole: pre-LN blocks
(:class:`crossrec.model.layers.CausalTransformer`, reused), left padding (the most recent item always sits at
position ``max_len - 1``), and the loss is taken at every position of non-overlapping windows of each user's
training prefix (:func:`crossrec.data.windows.build_train_windows`) instead of one sample per prefix;
Adam at lr 3e-3 with batches of 128 windows (RecBole: 1e-3), which learns about 3x faster per epoch on ML-1M
and so reaches BENCHMARK.md's capped reference figures within the same wall-time caps on 2 CPUs.

- ``mode="target"``: each user's sequence keeps only target-domain items; the vocabulary is T's catalogue.
- ``mode="merged"``: one sequence of every domain's items; the softmax runs over ALL items in training and
  the ranking is restricted to T's catalogue at scoring time.

Training reads each user's first ``split.train_cutoff`` interactions only (never a valid/test interaction), less
the items an item-cold-start split hides, which are also left out of the training softmax (their embedding rows
keep their initial values: a new item's score is what an untrained row gives); early stopping uses valid NDCG@10 through :func:`crossrec.eval.runner.evaluate` and keeps the best weights.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crossrec.data.history import compact_left
from crossrec.data.sequences import keep_positions
from crossrec.data.split import TargetSplit
from crossrec.data.windows import IGNORE_LABEL, build_train_windows, burst_target_labels
from crossrec.eval.epoch_loop import VALID_SCORE, EpochLoop
from crossrec.eval.metrics import SELECTION_METRIC
from crossrec.eval.protocol import HistoryBatch
from crossrec.model.layers import CausalTransformer

FFN_MULT = 4  # RecBole: inner_size 256 for hidden 64


class SASRecNet(nn.Module):
    """Item + position embeddings -> causal transformer -> (B, L, D) states; logits = states @ item table."""

    def __init__(self, n_items: int, max_len: int, d_model: int, n_layers: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, d_model, padding_idx=0)  # row 0 = padding
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.emb_norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.encoder = CausalTransformer(d_model, n_layers, n_heads, FFN_MULT, dropout)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        """RecBole's initialisation: N(0, 0.02) weights, zero biases."""
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """items: (B, L) int64 vocabulary ids, left-padded with 0 -> (B, L, D) hidden states."""
        valid = items > 0
        pos = torch.arange(items.shape[1], device=items.device)
        x = self.dropout(self.emb_norm(self.item_emb(items) + self.pos_emb(pos)))  # (B, L, D)
        return self.encoder(x, valid)

    def logits(self, hidden: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(P, D) states -> (P, V) logits over vocabulary ids 1..V (``rows``: only these ids, in that order)."""
        table = self.item_emb.weight[1:] if rows is None else self.item_emb.weight[rows]
        return hidden @ table.T


class SASRec:
    """Recommender-protocol SASRec baseline (see the module docstring). ``fit(split)`` then ``score(batch)``.

    ``eval_max_len`` is the history width to evaluate with (``evaluate(..., max_len=model.eval_max_len)``):
    ``None`` (whole history) in target mode, whose non-target items are dropped before the last ``max_len``
    target items are kept; ``max_len`` in merged mode. ``fit_stats`` records epochs, best epoch, losses,
    valid NDCG@10 per epoch, wall seconds and CPU seconds (the wall cap counts training and validation).
    """

    def __init__(self, mode: Literal["target", "merged"] = "target", d_model: int = 64, n_layers: int = 2,
                 n_heads: int = 2, max_len: int = 50, dropout: float = 0.2, lr: float = 3e-3, batch_size: int = 128,
                 max_epochs: int = 200, max_minutes: float | None = None, patience: int = 10, seed: int = 0,
                 progress: bool = True, labels: Literal["next", "burst", "burst_every"] = "next") -> None:
        if mode not in ("target", "merged"):
            raise ValueError(f"mode must be 'target' or 'merged', got {mode!r}")
        if labels not in ("next", "burst", "burst_every"):
            raise ValueError(f"labels must be 'next', 'burst' or 'burst_every', got {labels!r}")
        self.labels = labels
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if max_epochs < 1 or patience < 1:
            raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs} and {patience}")
        self.mode, self.d_model, self.n_layers, self.n_heads = mode, d_model, n_layers, n_heads
        self.max_len, self.dropout, self.lr, self.batch_size = max_len, dropout, lr, batch_size
        self.max_epochs, self.max_minutes, self.patience, self.seed = max_epochs, max_minutes, patience, seed
        self.progress = progress
        self.name = f"sasrec_{mode}"
        self.eval_max_len: int | None = None if mode == "target" else max_len
        self.net: SASRecNet | None = None
        self.vocab: np.ndarray | None = None  # (N+1,) int64 item index -> vocabulary id (0 = not in vocabulary)
        self.score_rows: torch.Tensor | None = None  # (N_T,) vocabulary ids of T's catalogue, catalogue order
        self.fallback: np.ndarray | None = None  # (N_T,) log training frequency: scores of empty histories
        self.fit_stats: dict[str, Any] = {}
        self.excluded: torch.Tensor | None = None  # (V,) bool over classes (vocabulary id - 1): hidden items

    def _training_sequences(
        self, split: TargetSplit
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vocabulary ids, domains, offsets, cutoffs and timestamps of the sequences the model reads (CSR)."""
        items, domains, offsets, cutoff, timestamps = split.training_sequences()
        ids = self.vocab[items]
        keep = ids > 0
        return (*keep_positions(ids, domains, offsets, cutoff, keep), timestamps[keep])

    def _setup(self, split: TargetSplit) -> None:
        n_all, n_t = split.item_index.n_items, len(split.target_items)
        if self.mode == "target":
            self.vocab = np.zeros(n_all + 1, dtype=np.int64)
            self.vocab[split.target_items] = np.arange(1, n_t + 1)
        else:
            self.vocab = np.arange(n_all + 1, dtype=np.int64)
        self.score_rows = torch.as_tensor(self.vocab[split.target_items])
        self.excluded = None
        if len(split.hidden_items):
            self.excluded = torch.zeros(int(self.vocab.max()), dtype=torch.bool)
            self.excluded[torch.as_tensor(self.vocab[split.hidden_items] - 1)] = True
        torch.manual_seed(self.seed)
        self.net = SASRecNet(int(self.vocab.max()), self.max_len, self.d_model, self.n_layers, self.n_heads,
                             self.dropout)

    def fit(self, split: TargetSplit) -> None:
        """Train on every user's training prefix; early stopping on valid NDCG@10 (best weights kept)."""
        from crossrec.eval.runner import evaluate

        t0, cpu0 = time.perf_counter(), time.process_time()
        self._setup(split)
        ids, domains, offsets, cutoff, timestamps = self._training_sequences(split)
        n_vocab = int(self.vocab.max())
        # every vocabulary item counts as a "target" for the windows: labels = next item's id - 1 (a class);
        # ``labels="burst"``: only at the end of a timestamp group, the last item of the next group;
        # ``"burst_every"``: that label at every position of the group (see data/windows.burst_target_labels)
        classes = np.arange(n_vocab + 1) - 1
        flat = (None if self.labels == "next" else burst_target_labels(
            ids, timestamps, offsets, cutoff, classes, every_position=self.labels == "burst_every"))
        win = build_train_windows(ids, domains, offsets, cutoff, classes, self.max_len, labels_flat=flat)
        labels = win.labels[win.labels != IGNORE_LABEL]
        freq = np.bincount(labels, minlength=n_vocab).astype(np.float64)
        self.fallback = np.log1p(freq)[self.score_rows.numpy() - 1].astype(np.float32)
        items_t, labels_t = torch.as_tensor(win.items), torch.as_tensor(win.labels)
        rng = np.random.default_rng(self.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        has_valid = len(split.role("valid")) > 0
        deadline = t0 + 60 * self.max_minutes if self.max_minutes else float("inf")
        stats: dict[str, Any] = {"windows": len(win), "labels": int(labels.size), "losses": [], "valid_ndcg10": []}

        def train_and_validate(epoch: int) -> dict[str, float]:
            te = time.perf_counter()
            loss = self._train_epoch(items_t, labels_t, rng, opt, deadline)
            ndcg = (evaluate(self, split, role="valid", max_len=self.eval_max_len, progress=False)
                    .metrics["overall"][SELECTION_METRIC.key]) if has_valid else float("nan")
            stats["losses"].append(loss)
            stats["valid_ndcg10"].append(ndcg)
            if self.progress:
                print(f"{self.name} epoch {epoch}: loss {loss:.4f}, valid ndcg@10 {ndcg:.4f}, "
                      f"{time.perf_counter() - te:.1f}s", flush=True)
            return {"epoch": epoch, "loss": loss, VALID_SCORE: ndcg}

        loop = EpochLoop(self.max_epochs, self.patience, 60 * self.max_minutes if self.max_minutes else None)
        result = loop.run(train_and_validate, snapshot=lambda: copy.deepcopy(self.net.state_dict()),
                          restore=self.net.load_state_dict, started_at=t0)
        self.net.eval()
        stats.update(epochs=result.epochs, best_epoch=result.best_epoch, best_valid_ndcg10=result.best_score,
                     stopped=result.stopped_by, fit_seconds=time.perf_counter() - t0,
                     cpu_seconds=time.process_time() - cpu0)
        self.fit_stats = stats

    def _train_epoch(self, items: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
                     opt: torch.optim.Optimizer, deadline: float) -> float:
        """One shuffled pass over the windows (stops early past ``deadline``): the mean loss per label."""
        self.net.train()
        total, count = 0.0, 0
        order = torch.as_tensor(rng.permutation(len(items)))
        for start in range(0, len(items), self.batch_size):
            if time.perf_counter() >= deadline:
                break
            take = order[start : start + self.batch_size]
            y = labels[take]  # (b, L)
            hidden = self.net(items[take])  # (b, L, D)
            live = y != IGNORE_LABEL
            logits = self.net.logits(hidden[live])  # full softmax over the vocabulary, less hidden items
            if self.excluded is not None:
                logits = logits.masked_fill(self.excluded, float("-inf"))
            loss = F.cross_entropy(logits, y[live])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * int(live.sum())
            count += int(live.sum())
        return total / max(count, 1)

    @torch.no_grad()
    def score(self, batch: HistoryBatch) -> np.ndarray:
        """(B, N_T) float32 next-item logits over T's catalogue (catalogue order); empty histories get the
        log training frequency."""
        if self.net is None:
            raise RuntimeError("SASRec.score called before fit(split)")
        self.net.eval()
        ids = self.vocab[np.asarray(batch.items)]  # 0 = not in the vocabulary (or padding)
        items = compact_left(ids, ids > 0, self.max_len)  # (B, L)
        hidden = self.net(torch.as_tensor(items))[:, -1]  # (B, D) state at the most recent item
        scores = self.net.logits(hidden, self.score_rows).numpy()
        empty = items[:, -1] == 0
        scores[empty] = self.fallback
        return scores
