"""Typed settings of the shared backbone and its per-domain LoRA adapters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from crossrec.config import StrictModel

Precision = Literal["fp32", "bf16", "int8", "nf4"]


class BackboneConfig(StrictModel):
    """Which text model encodes item text, at which precision, on which device."""

    path: str | None = Field(None, description="Local Hugging Face directory; null = packaged all-MiniLM-L6-v2.")
    precision: Precision = Field("fp32", description="fp32 | bf16 | int8 | nf4 (bitsandbytes for int8/nf4).")
    pooling: Literal["auto", "mean", "last", "cls"] = Field(
        "auto", description="auto = mean for encoders, last token for decoder-only LLMs."
    )
    max_length: int = Field(64, gt=0, le=8192, description="Tokens per item text.")
    device: str = Field("cpu", description="cpu | cuda | cuda:N | auto")
    device_map_local_rank: bool = Field(
        False, description="DDP: place the backbone with device_map={'': local_rank} (k-bit on GPU)."
    )
    trust_remote_code: bool = False

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v in ("cpu", "cuda", "auto") or (v.startswith("cuda:") and v[5:].isdigit()):
            return v
        raise ValueError(f"device should be cpu, cuda, cuda:N or auto, got {v!r}")


class LoraSettings(StrictModel):
    """LoRA hyper-parameters of a domain adapter (peft ``LoraConfig``)."""

    r: int = Field(8, description="Adapter rank.")
    alpha: int = Field(16, description="Scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | None = Field(None, description="null = per-architecture default.")
    bias: Literal["none", "all", "lora_only"] = "none"

    @field_validator("r", "alpha")
    @classmethod
    def _positive(cls, v: int, info) -> int:
        if v <= 0:
            raise ValueError(f"`{info.field_name}` should be positive, got {v}")
        return v
