"""Training checkpoints of one target domain: heads, adapter, text table, optimizer and trainer state.

Layout (all tensors as safetensors, never pickles)::

    heads.safetensors        CrossRecModel.state_dict()
    text_table.safetensors   {"text_table": (N+1, H)} cached item text embeddings (adapter applied to T)
    adapter/                 the target domain's LoRA adapter (peft format), when trained
    optimizer.safetensors    flattened AdamW state + optimizer.json (param groups)
    rng.safetensors          torch RNG state (dropout) so a resumed run continues identically
    trainer_state.json       epoch, global_step, best valid NDCG@10, metric history, RNG state,
                             resumed_at_epochs (the epoch of every restore: restarts after a failure or re-runs)

Written atomically (temporary sibling directory, then rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from crossrec.model.factory import restore_heads, save_heads
from crossrec.utils.io import atomic_directory
from crossrec.utils.tensors import load_optimizer, load_tensors, save_optimizer, save_tensors

if TYPE_CHECKING:
    from crossrec.train.engine import TargetDomainTrainer

STATE_FILE = "trainer_state.json"


def save_checkpoint(trainer: TargetDomainTrainer, directory: Path) -> Path:
    """Write the trainer's full state as ``directory``, atomically: the files go to a temporary sibling that
    then replaces ``directory``, so a crash mid-write leaves the previous checkpoint there intact. Returns it."""
    with atomic_directory(Path(directory)) as tmp:
        _write_state(trainer, tmp)
    return Path(directory)


def _write_state(trainer: TargetDomainTrainer, directory: Path) -> None:
    save_heads(trainer.model, directory)
    if trainer.text is not None and trainer.text.trains_adapter:
        trainer.text.save_adapter(directory / "adapter")
    save_optimizer(trainer.optimizer, directory)
    save_tensors({"torch_rng": torch.get_rng_state()}, directory / "rng.safetensors")
    state = {
        "target": trainer.split.target,
        "epoch": trainer.epoch,
        "global_step": trainer.global_step,
        "best_ndcg": trainer.best_ndcg,
        "history": trainer.history,
        "rng": trainer.rng.bit_generator.state,
        "backbone": trainer.text.identity if trainer.text is not None else None,
        "resumed_at_epochs": list(trainer.resumed_at_epochs),
    }
    (directory / STATE_FILE).write_text(json.dumps(state, default=_json_default))


def load_checkpoint(trainer: TargetDomainTrainer, directory: Path) -> None:
    """Restore a trainer from :func:`save_checkpoint` output (same config and split)."""
    directory = Path(directory)
    state = json.loads((directory / STATE_FILE).read_text())
    restore_heads(trainer.model, directory, trainer.device, owner="checkpoint")
    if trainer.text is not None and trainer.text.trains_adapter and (directory / "adapter").exists():
        trainer.text.load_adapter(directory / "adapter")
    load_optimizer(trainer.optimizer, directory)
    if (directory / "rng.safetensors").exists():
        torch.set_rng_state(load_tensors(directory / "rng.safetensors")["torch_rng"])
    trainer.epoch = int(state["epoch"])
    trainer.global_step = int(state["global_step"])
    trainer.best_ndcg = float(state["best_ndcg"])
    trainer.history = list(state["history"])
    trainer.rng.bit_generator.state = state["rng"]
    trainer.resumed_at_epochs = [*state.get("resumed_at_epochs", []), trainer.epoch]


def read_trainer_state(directory: Path) -> dict:
    return json.loads((Path(directory) / STATE_FILE).read_text())


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj))
