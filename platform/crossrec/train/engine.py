"""Plain-PyTorch training engine for one target domain (no Ray here: `ray_trainer` wraps it).

Per step: a batch of training windows (dense next-target-item labels) and a set of *live* target items —
the batch's label items first, then random others, up to ``optim.live_items_per_step`` — re-encoded by the
backbone with the target domain's LoRA adapter *with* gradient. Every other item uses the cached text table,
refreshed with the updated adapter after each epoch. The loss is a full softmax over T's catalogue, so the
LoRA weights learn from the rows that matter most at a fraction of the cost of re-encoding the catalogue.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from crossrec.data.sequences import keep_positions
from crossrec.data.split import TargetSplit
from crossrec.data.windows import build_train_windows, burst_target_labels
from crossrec.eval.model_scorer import CrossRecScorer
from crossrec.eval.runner import evaluate
from crossrec.model.factory import build_model
from crossrec.model.recommender import CrossRecModel
from crossrec.model.text_side import ItemTextSide
from crossrec.train.config import TrainConfig


@dataclass
class EpochStats:
    epoch: int
    loss: float
    steps: int
    windows: int
    seconds: float
    samples_per_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class TrainStep(nn.Module):
    """Everything one optimisation step runs forward, as one module (what DDP wraps)."""

    def __init__(
        self,
        model: CrossRecModel,
        text: ItemTextSide | None,
        target: str,
        next_item_weight: float = 0.0,
        next_item_positions: int | None = None,
        target_positions: int | None = None,
    ) -> None:
        super().__init__()
        self.next_item_weight = next_item_weight
        self.next_item_positions = next_item_positions
        self.target_positions = target_positions
        self.model = model
        self.text = text
        self.backbone_model = text.torch_module if text is not None else None  # registered for DDP
        self.target = target

    def forward(
        self,
        items: torch.Tensor,
        domains: torch.Tensor,
        labels: torch.Tensor,
        live_rows: torch.Tensor,
        next_items: torch.Tensor | None = None,
    ) -> torch.Tensor:
        live_text = None
        if self.text is not None and live_rows.numel():
            live_text = self.text.encode_catalogue_rows(live_rows, grad=True)
        return self.model.loss(items, domains, labels, live_rows, live_text, next_items, self.next_item_weight,
                               self.next_item_positions, self.target_positions)


class TargetDomainTrainer:
    """Fits the heads (and LoRA adapter, when configured) of one target domain on a :class:`TargetSplit`.

    Args:
        cfg: the run's typed config.
        split: the benchmark split of the target domain.
        device: torch device of this worker.
        wrap: optional hook applied to the :class:`TrainStep` module (Ray wraps it in DDP).
        rank, world_size: this worker's shard of the training windows.
        log: progress printer (defaults to print on rank 0).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        split: TargetSplit,
        device: torch.device | str = "cpu",
        wrap: Callable[[nn.Module], nn.Module] | None = None,
        rank: int = 0,
        world_size: int = 1,
        log: Callable[[str], None] | None = None,
        text: ItemTextSide | None = None,
    ) -> None:
        self.cfg = cfg
        self.split = split
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.log = log or (print if rank == 0 else (lambda _msg: None))
        self.epoch = 0
        self.global_step = 0
        self.best_ndcg = -1.0
        self.history: list[dict[str, float]] = []
        self.resumed_at_epochs: list[int] = []  # epochs restored from a checkpoint (see train/checkpoint.py)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed + rank)

        index = split.item_index
        self.target_domain = index.domains.index(split.target) + 1
        use_text = cfg.model.tower.use_text
        self.text = text if text is not None else (ItemTextSide.create(cfg.backbone, cfg.lora, index, split.target, self.device) if use_text else None)
        self.model = build_model(cfg.model, index, split.target,
                                 self.text.text_table() if self.text is not None else None).to(self.device)

        self._mark_untrained_items(split)
        items, domains, offsets, cutoff, timestamps = split.training_sequences()  # hidden items dropped
        if not cfg.model.fusion.transfer:  # no transfer: the windows hold target-domain items only
            keep = domains == self.target_domain
            items, domains, offsets, cutoff = keep_positions(items, domains, offsets, cutoff, keep)
            timestamps = timestamps[keep]
        catalogue_position = self.model.catalogue_position.cpu().numpy()
        self.windows = build_train_windows(
            items, domains, offsets, cutoff, catalogue_position, cfg.model.tower.max_len,
            cfg.optim.max_windows_per_user, keep_any_next=cfg.optim.next_item_weight > 0,
            labels_flat=self._target_labels(items, timestamps, offsets, cutoff, catalogue_position),
            next_flat=(burst_target_labels(items, timestamps, offsets, cutoff, np.arange(len(split.item_index)),
                                           every_position=True)
                       if cfg.optim.next_item_labels == "burst_every" else None),
        )
        if len(self.windows) == 0:
            from crossrec.errors import DataValidationError

            raise DataValidationError(f"target {split.target!r}: no training windows (no user has a target item to learn from)")
        self.step_module: nn.Module = TrainStep(
            self.model, self.text if self._train_lora else None, split.target, cfg.optim.next_item_weight,
            cfg.optim.next_item_positions, cfg.optim.target_positions,
        )
        if wrap is not None:
            self.step_module = wrap(self.step_module)
        self.optimizer = torch.optim.AdamW(self._param_groups(), weight_decay=cfg.optim.weight_decay)

    # ------------------------------------------------------------------ setup
    def _mark_untrained_items(self, split: TargetSplit) -> None:
        """Hidden items (item cold start) leave the training softmaxes; with ``tower.id_min_interactions``, items
        with fewer training interactions are read by their text alone (training and evaluation alike)."""
        if len(split.hidden_items):
            hidden = torch.zeros(len(split.item_index.item_ids), dtype=torch.bool)
            hidden[torch.as_tensor(split.hidden_items)] = True
            self.model.exclude_from_training(hidden)
        threshold = self.cfg.model.tower.id_min_interactions
        if threshold:
            rare = torch.as_tensor(split.training_item_counts() < threshold)
            rare[0] = False
            self.model.item_tower.read_by_text(rare)

    def _target_labels(self, items: np.ndarray, timestamps: np.ndarray, offsets: np.ndarray, cutoff: np.ndarray,
                       catalogue_position: np.ndarray) -> np.ndarray | None:
        """(M,) target-softmax labels per ``optim.target_labels`` (None: the windows' default, the next item)."""
        mode = self.cfg.optim.target_labels
        if mode == "next":
            return None
        return burst_target_labels(items, timestamps, offsets, cutoff, catalogue_position,
                                   adjacent=mode != "burst_any", every_position=mode == "burst_every")

    @property
    def _train_lora(self) -> bool:
        return self.text is not None and self.text.trains_adapter and self.cfg.optim.live_items_per_step > 0

    def _param_groups(self) -> list[dict]:
        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": self.cfg.optim.lr}]
        if self._train_lora:
            groups.append({"params": list(self.text.trainable_parameters()), "lr": self.cfg.optim.lora_lr})
        return groups

    def trainable_parameter_count(self) -> dict[str, int]:
        heads = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        lora = sum(p.numel() for p in self.text.trainable_parameters()) if self._train_lora else 0
        return {"heads": heads, "lora": lora}

    def _lr_scale(self) -> float:
        warm = self.cfg.optim.warmup_steps
        return min(1.0, (self.global_step + 1) / warm) if warm else 1.0

    # ------------------------------------------------------------------ steps
    def _live_rows(self, labels: np.ndarray) -> torch.Tensor:
        g = self.cfg.optim.live_items_per_step
        if not self._train_lora or g == 0:
            return torch.empty(0, dtype=torch.long)
        pos = np.unique(labels[labels >= 0])
        if pos.size > g:
            pos = self.rng.choice(pos, size=g, replace=False)
        elif pos.size < g:
            n = self.model.n_catalogue
            others = np.setdiff1d(self.rng.choice(n, size=min(n, 2 * g), replace=False), pos)
            pos = np.concatenate([pos, others[: g - pos.size]])
        return torch.as_tensor(np.sort(pos), dtype=torch.long)

    def train_epoch(self, progress: Callable[[int, int, float], None] | None = None) -> EpochStats:
        """One pass over this worker's shard of the windows. Returns the epoch's statistics."""
        self.step_module.train()
        order = self.rng.permutation(len(self.windows)) if self.world_size == 1 else self._shard_order()
        bs = self.cfg.optim.batch_size
        n_steps = math.ceil(len(order) / bs)
        total, seen, t0 = 0.0, 0, time.perf_counter()
        for step in range(n_steps):
            idx = order[step * bs : (step + 1) * bs]
            items = torch.as_tensor(self.windows.items[idx], device=self.device)
            domains = torch.as_tensor(self.windows.domains[idx], device=self.device)
            labels_np = self.windows.labels[idx]
            labels = torch.as_tensor(labels_np, device=self.device)
            live = self._live_rows(labels_np).to(self.device)
            next_items = torch.as_tensor(self.windows.next_items[idx], device=self.device)
            for group, base_lr in zip(self.optimizer.param_groups, self._base_lrs(), strict=True):
                group["lr"] = base_lr * self._lr_scale()
            loss = self.step_module(items, domains, labels, live, next_items)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.optim.grad_clip:
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
            self.optimizer.step()
            self.global_step += 1
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
            if progress is not None:
                progress(step + 1, n_steps, total / seen)
        self.epoch += 1
        if self._train_lora:
            self.refresh_text_table()
        secs = time.perf_counter() - t0
        return EpochStats(self.epoch, total / max(seen, 1), n_steps, seen, secs, seen / max(secs, 1e-9))

    def _base_lrs(self) -> list[float]:
        lrs = [self.cfg.optim.lr]
        if self._train_lora:
            lrs.append(self.cfg.optim.lora_lr)
        return lrs

    def _shard_order(self) -> np.ndarray:
        """Each worker takes an equal-length, disjoint shard of a permutation shared by all workers."""
        perm = np.random.default_rng(self.cfg.seed + self.epoch).permutation(len(self.windows))
        per = len(perm) // self.world_size
        return perm[self.rank * per : (self.rank + 1) * per]

    @torch.no_grad()
    def refresh_text_table(self) -> None:
        """Re-encode T's catalogue with the current adapter into the cached text table."""
        self.model.item_tower.set_text_table(self.text.text_table(refresh_target=True))

    # ------------------------------------------------------------------ eval
    def scorer(self) -> CrossRecScorer:
        return CrossRecScorer(self.model, self.split, device=self.device, batch_size=self.cfg.eval.batch_size)

    def evaluate(self, role: str = "valid", progress: bool = False):
        """Full-ranking metrics of BENCHMARK.md on ``role`` ("valid" | "test"): an EvalReport."""
        self.model.eval()
        return evaluate(self.scorer(), self.split, role=role, batch_size=self.cfg.eval.batch_size,
                        max_len=self.model.history_window, progress=progress)
