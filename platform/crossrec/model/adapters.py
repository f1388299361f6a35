"""Per-domain LoRA adapters on one shared backbone (peft named adapters): ``f_d(x) = f_base(x) + Δ_d(x)``.

Only the active domain's LoRA weights are trainable; the base stays frozen. Each domain's adapter is saved
and loaded alone (peft format, safetensors) with the identity of the backbone it was trained on, and an
adapter of another backbone is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossrec.errors import BundleError
from crossrec.model.backbone import Backbone
from crossrec.model.bundle_io import describe_backbone, same_backbone
from crossrec.model.config import LoraConfig

IDENTITY_FILE = "crossrec_adapter.json"

# Attention (and feed-forward) projections per architecture; peft's own mapping is the fallback.
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "xlm-roberta": ["query", "key", "value", "dense"],
    "mpnet": ["q", "k", "v", "o"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def default_target_modules(model_type: str) -> list[str] | None:
    return DEFAULT_TARGETS.get(model_type)


class DomainAdapters:
    """Named LoRA adapters (one per domain) on ``backbone.model`` (wrapped by peft on the first add)."""

    def __init__(self, backbone: Backbone) -> None:
        self.backbone = backbone
        self.settings: dict[str, LoraConfig] = {}

    @property
    def domains(self) -> list[str]:
        return sorted(self.settings)

    def has(self, domain: str | None) -> bool:
        return domain is not None and domain in self.settings

    def _lora_config(self, s: LoraConfig):
        from peft import LoraConfig as PeftLoraConfig

        targets = s.target_modules or default_target_modules(self.backbone.identity["model_type"])
        return PeftLoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=targets, bias=s.bias)

    def add(self, domain: str, settings: LoraConfig | None = None) -> None:
        """Create ``domain``'s adapter (fresh LoRA weights: B = 0, so it starts equal to the base)."""
        from peft import PeftModel, get_peft_model

        settings = settings or LoraConfig()
        if domain in self.settings:
            raise ValueError(f"adapter {domain!r} already exists")
        config = self._lora_config(settings)
        if isinstance(self.backbone.model, PeftModel):
            self.backbone.model.add_adapter(domain, config)
        else:
            self.backbone.model = get_peft_model(self.backbone.model, config, adapter_name=domain)
        self.settings[domain] = settings
        self.activate(domain)

    def activate(self, domain: str) -> None:
        """Make ``domain`` the active adapter; only its LoRA weights require grad afterwards."""
        if domain not in self.settings:
            raise KeyError(f"no adapter for domain {domain!r}; have {self.domains}")
        self.backbone.model.set_adapter(domain)
        for name, p in self.backbone.model.named_parameters():
            p.requires_grad_("lora_" in name and f".{domain}." in name)

    @contextmanager
    def use(self, domain: str | None):
        """Context: ``domain``'s adapter active, or the bare base model for None / a domain without one."""
        if not self.has(domain):
            if self.settings:
                with self.backbone.model.disable_adapter():
                    yield
            else:
                yield
            return
        self.activate(domain)
        yield

    def trainable_parameters(self, domain: str) -> list[nn.Parameter]:
        self.activate(domain)
        return [p for p in self.backbone.model.parameters() if p.requires_grad]

    def _state(self, domain: str) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.backbone.model, adapter_name=domain)

    def version(self, domain: str) -> str:
        """Content hash of ``domain``'s adapter weights (changes whenever training changes them)."""
        h = hashlib.sha256()
        for name, t in sorted(self._state(domain).items()):
            h.update(name.encode())
            h.update(t.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def save(self, domain: str, directory: str | Path) -> Path:
        """Save ``domain``'s adapter alone (adapter_model.safetensors + adapter_config.json) into ``directory``."""
        directory = Path(directory)
        with tempfile.TemporaryDirectory() as tmp:
            self.backbone.model.save_pretrained(tmp, selected_adapters=[domain], safe_serialization=True)
            src = Path(tmp) / domain if (Path(tmp) / domain).is_dir() else Path(tmp)
            shutil.rmtree(directory, ignore_errors=True)
            shutil.copytree(src, directory)
        meta = {"domain": domain, "backbone": self.backbone.identity, "lora": self.settings[domain].model_dump()}
        (directory / IDENTITY_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    def load(self, domain: str, directory: str | Path) -> None:
        """Load a saved adapter as ``domain`` (replacing an existing one). Refuses another backbone's adapter."""
        from peft import PeftModel

        directory = Path(directory)
        meta_path = directory / IDENTITY_FILE
        if not meta_path.is_file():
            raise BundleError(f"{meta_path}: missing; not a crossrec adapter")
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        theirs, ours = meta.get("backbone"), self.backbone.identity
        if not same_backbone(theirs, ours):
            raise BundleError(f"{directory}: adapter was trained on backbone {describe_backbone(theirs)}, "
                              f"not on the loaded {describe_backbone(ours)}")
        if domain in self.settings:
            self.backbone.model.delete_adapter(domain)
            del self.settings[domain]
        if isinstance(self.backbone.model, PeftModel):
            self.backbone.model.load_adapter(str(directory), adapter_name=domain, is_trainable=True)
        else:
            self.backbone.model = PeftModel.from_pretrained(self.backbone.model, str(directory),
                                                            adapter_name=domain, is_trainable=True)
        self.settings[domain] = LoraConfig(**meta["lora"])
        self.activate(domain)
