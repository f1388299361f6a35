"""The one place that builds a :class:`CrossRecModel` and moves its state to and from disk.

Training (``train/engine.py``), final evaluation of a checkpoint (``train/final_eval.py``), training
checkpoints (``train/checkpoint.py``), model bundles (``model/bundle.py``) and serving all call these, so a
new constructor argument or a new state file is added here once.

On disk, a target's heads are two safetensors files in one directory (a checkpoint or ``targets/<T>/`` of
a bundle)::

    heads.safetensors        CrossRecModel.state_dict()
    text_table.safetensors   {"text_table": (N+1, H)} the cached item text embeddings the heads read
"""

from __future__ import annotations

from pathlib import Path

import torch

from crossrec.data.sequences import ItemIndex
from crossrec.errors import BundleError
from crossrec.model.config import ModelConfig
from crossrec.model.recommender import CrossRecModel
from crossrec.utils.tensors import load_tensors, save_tensors

HEADS_FILE = "heads.safetensors"
TEXT_TABLE_FILE = "text_table.safetensors"

__all__ = ["HEADS_FILE", "TEXT_TABLE_FILE", "build_model", "load_heads", "restore_heads", "save_heads"]


def build_model(cfg: ModelConfig, item_index: ItemIndex, target: str, text_table: torch.Tensor | None = None,
                text_dim: int | None = None) -> CrossRecModel:
    """A fresh model of target domain ``target`` over ``item_index``'s items.

    Args:
        cfg: the model config.
        item_index: every item of every domain (row i = item index i, row 0 = padding).
        target: name of the target domain T (one of ``item_index.domains``).
        text_table: (N+1, H) item text embeddings, installed in the item tower when given.
        text_dim: H when no table is given yet (1 for an ID-only model).
    """
    if target not in item_index.domains:
        raise BundleError(f"unknown target domain {target!r}; the item index has {list(item_index.domains)}")
    if text_table is not None:
        text_dim = int(text_table.shape[1])
    item_domain = torch.as_tensor(item_index.item_domain, dtype=torch.long)
    model = CrossRecModel(cfg, item_domain, len(item_index.domains), item_index.domains.index(target) + 1,
                          text_dim if text_dim is not None else 1)
    if text_table is not None:
        model.item_tower.set_text_table(text_table)
    return model


def save_heads(model: CrossRecModel, directory: Path) -> None:
    """Write ``model``'s state and text table into ``directory`` (which must exist)."""
    save_tensors(model.state_dict(), Path(directory) / HEADS_FILE)
    save_tensors({"text_table": model.item_tower.text_table}, Path(directory) / TEXT_TABLE_FILE)


def restore_heads(model: CrossRecModel, directory: Path, device: str | torch.device = "cpu",
                  owner: str = "bundle") -> CrossRecModel:
    """Load :func:`save_heads` output into an existing ``model``. Raises BundleError naming the file when the
    stored state does not fit the model's config (``owner``: what holds the files, for that message)."""
    heads = Path(directory) / HEADS_FILE
    try:
        model.load_state_dict(load_tensors(heads, device))
    except RuntimeError as err:
        raise BundleError(f"{heads}: does not match the {owner}'s model config: {str(err).splitlines()[0]}") from None
    model.item_tower.set_text_table(load_tensors(Path(directory) / TEXT_TABLE_FILE)["text_table"])
    return model


def load_heads(cfg: ModelConfig, item_index: ItemIndex, target: str, directory: Path,
               device: str | torch.device = "cpu", owner: str = "bundle") -> CrossRecModel:
    """The eval-mode model stored by :func:`save_heads` in ``directory`` (no backbone needed)."""
    table = load_tensors(Path(directory) / TEXT_TABLE_FILE)["text_table"]
    model = build_model(cfg, item_index, target, text_dim=int(table.shape[1]))
    return restore_heads(model, directory, owner=owner).to(device).eval()
