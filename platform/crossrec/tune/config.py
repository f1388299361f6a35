"""Typed sweep configuration and search-space parsing.

A search space maps dotted TrainConfig paths to one distribution each::

    space:
      model.fusion.variant: {choice: [gate, attention, sum]}
      optim.lr: {loguniform: [1.0e-4, 1.0e-2]}
      model.fusion.dropout: {uniform: [0.0, 0.3]}
      model.fusion.hidden: {randint: [32, 129]}      # upper bound exclusive
      model.fusion.transfer: {grid: [true, false]}   # every value, crossed with the other grid keys
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from crossrec.config import StrictModel
from crossrec.errors import ConfigError
from crossrec.ops.submit import SubmissionConfig
from crossrec.tracking import TrackingConfig
from crossrec.train.config import TrainConfig

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint", "grid")


class SchedulerConfig(StrictModel):
    type: Literal["asha", "fifo"] = "asha"
    grace_period: int = Field(1, gt=0, description="Epochs every trial runs before ASHA may stop it.")
    reduction_factor: float = Field(2.0, gt=1)


class SweepConfig(StrictModel):
    """A Ray Tune sweep over a base training config (``crossrec tune --config``)."""

    name: str = Field(..., min_length=1)
    target: str = Field(..., description="Target domain whose heads are tuned.")
    base_config: str | None = Field(None, description="Path of a TrainConfig YAML to start from.")
    base: dict[str, Any] | None = Field(None, description="Inline TrainConfig (instead of base_config).")
    bundle: str | None = Field(None, description="Bundle whose cached item embeddings fast trials reuse.")
    space: dict[str, dict[str, Any]] = Field(..., min_length=1)
    mode: Literal["fast", "full"] = Field("fast", description="fast: heads on cached embeddings; full: + LoRA.")
    num_samples: int = Field(8, gt=0, description="Trials (times the grid size for grid keys).")
    search: Literal["random", "grid", "optuna"] = "random"
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    max_concurrent_trials: int = Field(
        1, gt=0, description="optuna: trials in flight. random/grid: bounded by cpus_per_trial/gpus_per_trial.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow: one run per trial "
                                     "(default: a local store in the sweep directory).")
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    storage_path: str = "runs/sweeps"
    seed: int = 0
    submission: SubmissionConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> SweepConfig:
        if (self.base_config is None) == (self.base is None):
            raise ValueError("give exactly one of base_config (a path) or base (an inline TrainConfig)")
        if self.search == "optuna" and any("grid" in d for d in self.space.values()):
            raise ValueError("grid entries cannot be used with search: optuna (use choice)")
        return self

    def base_train_config(self, source: str = "sweep") -> TrainConfig:
        if self.base is not None:
            return TrainConfig.from_dict(self.base, source=f"{source}: base")
        return TrainConfig.from_yaml(self.base_config)


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def apply_params(base: TrainConfig, params: dict[str, Any], source: str = "trial") -> TrainConfig:
    """``base`` with each dotted path in ``params`` replaced (validated as a TrainConfig)."""
    data = base.model_dump(mode="json")
    for path, value in params.items():
        _set_path(data, path, value)
    return TrainConfig.from_dict(data, source=source)


def _check_path(base: TrainConfig, path: str, where: str) -> None:
    node: Any = base
    for key in path.split("."):
        if not hasattr(node, "model_fields") or key not in type(node).model_fields:
            raise ConfigError(f"{where}: {key!r} is not a TrainConfig field here")
        node = getattr(node, key)


def build_search_space(cfg: SweepConfig, base: TrainConfig, source: str = "sweep") -> dict[str, Any]:
    """Ray Tune domains for ``cfg.space``; bad entries raise a one-line ConfigError naming the key."""
    from ray import tune

    space: dict[str, Any] = {}
    for path, spec in cfg.space.items():
        where = f"{source}: space.{path}"
        _check_path(base, path, where)
        if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ConfigError(f"{where}: expected one of {list(DISTRIBUTIONS)} as the only key, got {list(spec)}")
        kind, args = next(iter(spec.items()))
        if kind in ("choice", "grid"):
            if not isinstance(args, list) or not args:
                raise ConfigError(f"{where}: {kind} needs a non-empty list, got {args!r}")
            values = args
            space[path] = tune.choice(args) if kind == "choice" else tune.grid_search(args)
        else:
            if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, int | float) for a in args)):
                raise ConfigError(f"{where}: {kind} needs [low, high], got {args!r}")
            low, high = args
            if not low < high or (kind == "loguniform" and low <= 0):
                raise ConfigError(f"{where}: bad bounds [{low}, {high}] for {kind}")
            values = [low, high - 1 if kind == "randint" else high]
            space[path] = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[kind](low, high)
        for value in values:  # every extreme must make a valid TrainConfig
            try:
                apply_params(base, {path: value}, source=where)
            except ConfigError as err:
                raise ConfigError(f"{where}: value {value!r} is invalid: {str(err).split(': ', 2)[-1]}") from None
    return space
