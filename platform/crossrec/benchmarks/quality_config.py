"""Typed configuration of the quality benchmark (``bench/quality.py --config``).

A benchmark is a dataset, target domains, seeds, a training budget and a list of methods. Every crossrec
ablation is a *config*: a base training YAML plus dotted-path overrides (``model.fusion.transfer: false``,
``lora: null``, ``backbone.precision: nf4`` ...), never a code fork.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from crossrec.config import StrictModel
from crossrec.data.synthetic import SyntheticConfig
from crossrec.tracking import TrackingConfig

MethodKind = Literal["mostpop", "zero_shot", "sasrec", "crossrec"]


class BudgetConfig(StrictModel):
    """Training budget of every trained method (early stopping on valid NDCG@10 inside it)."""

    max_epochs: int = Field(20, gt=0)
    max_minutes: float = Field(6.0, gt=0, description="Wall-time cap per fit, checked between epochs.")
    patience: int | None = Field(3, gt=0)


class ItemColdStartConfig(StrictModel):
    """Hide a random share of each target's items from training (:func:`crossrec.data.cold_start.hide_target_items`):
    their held-out examples form the new-item slice."""

    share: float = Field(0.2, gt=0.0, lt=1.0, description="Share of the target catalogue hidden from training.")
    seed: int = Field(0, description="Which items: the same for every method and training seed.")


class MethodConfig(StrictModel):
    """One row of the results table."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: MethodKind
    baseline: bool = Field(False, description="Counts towards 'best baseline' (crossrec variants do not).")
    all_seeds: bool = Field(False, description="Run every seed (mean ± std); otherwise the first seed only.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="crossrec: dotted TrainConfig paths.")
    params: dict[str, Any] = Field(default_factory=dict, description="Baselines: constructor keyword arguments.")
    budget: BudgetConfig | None = Field(None, description="Overrides the benchmark's budget for this method.")

    @model_validator(mode="after")
    def _check(self) -> MethodConfig:
        if self.overrides and self.kind != "crossrec":
            raise ValueError(f"method {self.name!r}: overrides only apply to kind crossrec (use params)")
        return self


class QualityConfig(StrictModel):
    """The whole benchmark. ``dataset`` is a canonical dataset dir or a raw RecBole dir (imported in memory
    with ``domains``); ``synthetic`` replaces it with generated data (tests, smoke runs)."""

    name: str = Field("quality", min_length=1)
    dataset: str | None = None
    domains: str | None = Field(None, description="Domain mapping for a raw dataset (name or YAML path).")
    domain_column: str | None = Field(None, description="Raw dataset: take each item's domain from this column.")
    text_fields: list[str] | None = Field(None, description="Raw dataset: item text spec (see crossrec.data.text).")
    synthetic: SyntheticConfig | None = None
    targets: list[str] = Field(..., min_length=1)
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    base_train_config: str = Field(..., description="TrainConfig YAML every crossrec variant starts from.")
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    item_cold_start: ItemColdStartConfig | None = Field(None, description="Hide a share of each target's items "
                                                        "from training (the new-item benchmark); null = the plain split.")
    best_baseline_all_seeds: bool = Field(True, description="Re-run the best baseline (highest first-seed valid NDCG@10) on every seed.")
    torch_threads: int | None = Field(None, gt=0)
    methods: list[MethodConfig] = Field(..., min_length=1)
    primary: str | None = Field(None, description="The crossrec method compared with the best baseline "
                                "(default: the first crossrec method).")
    goal_overall: float = Field(1.10, gt=0, description="Target ratio primary / best baseline, NDCG@10 overall.")
    goal_cold: float = Field(1.25, gt=0, description="Target ratio on the cold slice.")
    notes_file: str | None = Field(None, description="Markdown appended to the results page (what each change did).")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow: one run per (target, "
                                     "method, seed) result (default: a local store in work_dir).")
    work_dir: str = Field("runs/quality", description="Per-(target, method, seed) results; reruns skip finished ones.")
    out_dir: str = Field("docs/results", description="Where quality.{md,json,png} are written.")
    screens: list[str] = Field(default_factory=list, description="Screen YAMLs (ScreenConfig) whose candidates chose "
                               "this benchmark's settings on valid; the page counts them as each method's tuning effort.")

    @model_validator(mode="after")
    def _check(self) -> QualityConfig:
        if (self.dataset is None) == (self.synthetic is None):
            raise ValueError("give exactly one of dataset / synthetic")
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError(f"method names must be unique, got {names}")
        crossrec = [m.name for m in self.methods if m.kind == "crossrec"]
        if not crossrec:
            raise ValueError("at least one crossrec method is required")
        if self.primary is None:
            self.primary = crossrec[0]
        elif self.primary not in crossrec:
            raise ValueError(f"primary {self.primary!r} is not a crossrec method of this config ({crossrec})")
        return self

    def resolve_paths(self, base: Path) -> QualityConfig:
        """Relative paths are taken relative to ``base`` (the config file's repository root or cwd)."""
        def resolve(value: str | None) -> str | None:
            if value and "://" not in value and not Path(value).is_absolute():
                return str((base / value).resolve())
            return value

        upd: dict[str, Any] = {key: resolve(getattr(self, key))
                               for key in ("dataset", "base_train_config", "work_dir", "out_dir", "notes_file")}
        return self.model_copy(update={**upd, "screens": [resolve(s) for s in self.screens]})


def load_quality_config(path: str, dataset: str | None = None, targets: list[str] | None = None,
                        seeds: list[int] | None = None, work_dir: str | None = None,
                        out_dir: str | None = None) -> QualityConfig:
    """The benchmark YAML at ``path`` with the command line's overrides applied (``None`` keeps the file's
    value; a ``dataset`` replaces its synthetic data), relative paths resolved against the working directory."""
    cfg = QualityConfig.from_yaml(path)
    upd = {k: v for k, v in {"dataset": dataset, "targets": targets, "seeds": seeds, "work_dir": work_dir,
                             "out_dir": out_dir}.items() if v is not None}
    if dataset:
        upd["synthetic"] = None
    return QualityConfig.from_dict({**cfg.model_dump(), **upd}, source=path).resolve_paths(Path.cwd())


class ScreenConfig(StrictModel):
    """One screening round (``bench/screen.py``): a target of a quality config, a valid sample and the candidates."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    quality_config: str = Field(..., description="Quality benchmark YAML: dataset, base train config.")
    target: str
    valid_users: int | None = Field(2000, gt=0, description="Fixed sample of valid users (None: all).")
    sample_seed: int = 0
    seed: int = 0
    budget: BudgetConfig = Field(default_factory=lambda: BudgetConfig(max_epochs=3, max_minutes=30, patience=None))
    base_overrides: dict[str, Any] = Field(default_factory=lambda: {"lora": None},
                                           description="Applied to every crossrec method before its own.")
    torch_threads: int | None = Field(None, gt=0)
    work_dir: str = "runs/screen"
    methods: list[MethodConfig] = Field(..., min_length=1)


class QualitySuiteConfig(StrictModel):
    """One results page over several quality configs (one per dataset), rendered from their caches."""

    name: str = Field("quality", min_length=1)
    configs: list[str] = Field(..., min_length=1, description="Quality benchmark YAMLs, one per dataset.")
    out_dir: str = Field("docs/results", description="Where <name>.{md,json,png} are written.")
    notes_file: str | None = Field(None, description="Markdown appended to the page.")
