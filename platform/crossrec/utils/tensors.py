"""Safetensors helpers: model and optimizer state on disk without pickle.

Optimizer state (AdamW moments and step counts) is flattened into ``{"<param>.<key>": tensor}`` for
safetensors; the param-group hyper-parameters go to JSON. Loading never executes code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from crossrec.errors import BundleError


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing, truncated or garbled file raises a one-line BundleError naming it."""
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BundleError(f"{path}: not a readable safetensors file ({first})") from None


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    state = optimizer.state_dict()
    flat: dict[str, torch.Tensor] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            flat[f"{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    save_tensors(flat, directory / "optimizer.safetensors")
    (directory / "optimizer.json").write_text(json.dumps({"param_groups": state["param_groups"]}))


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    flat = load_tensors(directory / "optimizer.safetensors")
    groups = json.loads((directory / "optimizer.json").read_text())["param_groups"]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in flat.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})
