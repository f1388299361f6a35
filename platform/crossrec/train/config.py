"""Typed configuration of a training job (``crossrec train --config``, ``jobs/train_adapters.py``).

One YAML file describes the whole run: which dataset and target domains, the backbone and its LoRA
adapters, the heads, the optimiser, Ray Train scaling and where outputs go. Unknown keys are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from crossrec.config import StrictModel
from crossrec.model.config import BackboneConfig, LoraConfig, ModelConfig
from crossrec.ops.submit import SubmissionConfig
from crossrec.tracking import TrackingConfig


class OptimConfig(StrictModel):
    """Optimiser and schedule. The LoRA weights get their own (usually smaller) learning rate."""

    epochs: int = Field(20, gt=0, description="Passes over the training windows.")
    batch_size: int = Field(128, gt=0, description="Windows per step (per worker).")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate of the heads.")
    lora_lr: float = Field(2e-4, gt=0, description="AdamW learning rate of the LoRA adapter.")
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0, description="Max gradient norm; null disables clipping.")
    warmup_steps: int = Field(0, ge=0, description="Linear learning-rate warm-up steps.")
    live_items_per_step: int = Field(
        64, ge=0, description="Target items re-encoded with gradient through the adapter at each step."
    )
    next_item_weight: float = Field(
        0.0, ge=0, description="Weight of the auxiliary merged next-item loss over all domains' items (0 = off)."
    )
    next_item_positions: int | None = Field(
        2048, gt=0, description="Random positions per step that the auxiliary loss scores over all items (cost M x N)."
    )
    target_positions: int | None = Field(
        None, gt=0, description="Random labelled positions per step that the target softmax scores (None: all)."
    )
    max_windows_per_user: int | None = Field(None, gt=0, description="Cap on training windows per user.")
    target_labels: Literal["next", "burst", "burst_any", "burst_every"] = Field(
        "next", description="Where the target softmax is trained: `next` = every position, label the next target "
        "item; `burst` = the last position of each timestamp group, label the last target item of the very next "
        "group (the shape of a held-out example: data/windows.burst_target_labels); `burst_any` = the same with "
        "the first later group that holds a target item; `burst_every` = `burst`'s label at every position of the group.")
    next_item_labels: Literal["next", "burst_every"] = Field(
        "next", description="Labels of the auxiliary merged next-item loss: the next item, or the last item of the "
        "next timestamp group at every position (no within-group order is learnt).")
    patience: int | None = Field(5, gt=0, description="Stop after this many epochs without a better valid NDCG@10.")


class ScalingConfig(StrictModel):
    """Ray Train ``ScalingConfig`` plus the per-worker thread count."""

    num_workers: int = Field(1, gt=0)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    torch_threads: int | None = Field(None, gt=0, description="torch.set_num_threads in each worker.")

    @model_validator(mode="after")
    def _gpu_consistency(self) -> ScalingConfig:
        if self.gpus_per_worker > 0 and not self.use_gpu:
            raise ValueError(f"gpus_per_worker is {self.gpus_per_worker} but use_gpu is false")
        return self

    def resources_per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            res["GPU"] = self.gpus_per_worker or 1.0
        return res


class CheckpointConfig(StrictModel):
    keep_best: int = Field(2, gt=0, description="Checkpoints kept, ranked by valid NDCG@10.")
    max_failures: int = Field(2, ge=-1, description="Worker-group restarts from the latest checkpoint (-1: forever).")


class EvalConfig(StrictModel):
    """Validation runs after every epoch (Ray Train keeps metrics only with a checkpoint)."""

    batch_size: int = Field(512, gt=0, description="Users scored per batch.")


class TrainConfig(StrictModel):
    """A training run: one adapter + heads per target domain, all saved into one bundle."""

    run_name: str = Field(..., min_length=1, description="Names the run dir; re-running resumes it.")
    dataset: str = Field(..., description="Canonical dataset directory (see `crossrec data import`).")
    targets: list[str] = Field(..., min_length=1, description="Target domains, trained one after another.")
    storage_path: str = Field("runs", description="Local dir or URI (s3://, gs://) for checkpoints and bundles.")
    seed: int = 0
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    lora: LoraConfig | None = Field(
        default_factory=LoraConfig, description="LoRA on the target domain; null freezes the backbone."
    )
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    submission: SubmissionConfig | None = Field(None, description="`ray job submit` settings; see docs/operations.md.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow tracking (default: a "
                                     "local store in the run directory).")

    @field_validator("run_name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if any(c in v for c in "/\\") or v in {".", ".."}:
            raise ValueError(f"run_name must be a plain name without path separators, got {v!r}")
        return v

    @field_validator("targets")
    @classmethod
    def _unique_targets(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"targets must be unique, got {v}")
        return v

    def run_dir(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.run_name}"

    def bundle_dir(self) -> str:
        return f"{self.run_dir()}/bundle"

    def resolve_paths(self, base: Path) -> TrainConfig:
        """Relative dataset/storage paths are taken relative to ``base`` (the current directory)."""
        upd: dict[str, str] = {}
        if "://" not in self.dataset and not Path(self.dataset).is_absolute():
            upd["dataset"] = str((base / self.dataset).resolve())
        if "://" not in self.storage_path and not Path(self.storage_path).is_absolute():
            upd["storage_path"] = str((base / self.storage_path).resolve())
        return self.model_copy(update=upd)
