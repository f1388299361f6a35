"""Typed configs of the non-training jobs (evaluate, batch-recommend, embed-items)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from crossrec.config import StrictModel
from crossrec.model.config import BackboneConfig
from crossrec.ops.submit import SubmissionConfig


class JobConfig(StrictModel):
    submission: SubmissionConfig | None = Field(None, description="`ray job submit` settings; see docs/operations.md.")


class RayDataEngineConfig(StrictModel):
    """Where a batch job runs: here, or as a Ray Data pipeline over a pool of actors (the same results)."""

    engine: Literal["local", "ray_data"] = Field("local", description="local: this process, batch after batch; "
                                                 "ray_data: a Ray Data pipeline over `actors` actors.")
    actors: int = Field(1, ge=1, le=1024, description="ray_data: actors (each loads the model once).")
    gpus_per_actor: float = Field(0.0, ge=0, le=8, description="ray_data: GPUs per actor (1 on a GPU cluster).")


class EvaluateJobConfig(RayDataEngineConfig, JobConfig):
    bundle: str = Field(..., description="Model bundle directory.")
    dataset: str = Field(..., description="Canonical dataset directory.")
    targets: list[str] = Field(..., min_length=1)
    role: Literal["test", "valid"] = "test"
    output: str = Field(..., description="Directory or URI for metrics JSON and predictions JSONL.")
    top_k: int = Field(10, ge=1, le=1000)
    write_predictions: bool = Field(True, description="Per-user top-k JSONL (engine local only: ray_data writes "
                                    "metrics).")

    @model_validator(mode="after")
    def _predictions_need_local(self) -> EvaluateJobConfig:
        if self.engine == "ray_data" and self.write_predictions:
            raise ValueError("engine ray_data writes metrics only: set write_predictions: false")
        return self


class BatchRecommendJobConfig(RayDataEngineConfig, JobConfig):
    bundle: str
    dataset: str
    target: str
    k: int = Field(10, ge=1, le=1000)
    exclude_seen: bool = True
    batch_size: int = Field(512, gt=0)
    explain_n: int | None = Field(None, ge=1, le=10, description="Add a `because` column: up to this many history "
                                  "items (item_id, domain, text, weight) that drove each recommendation.")
    output: str = Field(..., description="Parquet file path or URI (e.g. s3://bucket/recs/family.parquet); with "
                        "engine ray_data a directory or URI prefix that receives the Parquet parts.")


class EmbedItemsJobConfig(RayDataEngineConfig, JobConfig):
    dataset: str = Field(..., description="Canonical dataset whose items are embedded.")
    bundle: str | None = Field(None, description="Use this bundle's adapters (None: base backbone only).")
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    domains: list[str] | None = Field(None, description="Domains to embed (None: all).")
    batch_size: int = Field(128, gt=0)
    output: str = Field(..., description="Directory or URI: one embeddings.npy + item_ids.parquet per domain; with "
                        "engine ray_data, Parquet parts of (item_id, domain, embedding).")
