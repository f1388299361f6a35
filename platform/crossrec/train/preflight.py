"""Checks of a training/sweep config's inputs in the driver, before Ray starts.

Without them a missing dataset, an unknown or empty target domain or a missing backbone would only fail
inside a Ray Train worker: after Ray has started, retried ``checkpoint.max_failures`` times and reported as a
multi-page ``WorkerGroupError`` traceback. Each check raises a one-line :class:`CrossrecError` that starts with
the config's file and names the field, e.g. ``run.yaml: targets: unknown target domain 'films' ...``.
"""

from __future__ import annotations

from pathlib import Path

from crossrec.data.dataset import load_dataset
from crossrec.errors import ConfigError, CrossrecError
from crossrec.model.bundle_io import describe_backbone, same_backbone
from crossrec.train.config import TrainConfig

MIN_VALID_INTERACTIONS = 3  # a user needs this many target interactions to have a validation example


def check_dataset_targets(dataset: str, targets: list[str], source: str, field: str = "targets") -> None:
    """The dataset loads and every target domain has interactions and at least one validation user."""
    try:  # a URI is staged into the local cache (the workers then read the same staged copy on this node)
        ds = load_dataset(dataset)
    except CrossrecError as err:
        raise type(err)(f"{source}: dataset: {err}") from None
    inter = ds.interactions
    for target in targets:
        if target not in ds.domains:
            raise ConfigError(f"{source}: {field}: unknown target domain {target!r}; dataset {dataset} has "
                              f"domains: {', '.join(ds.domains)}")
        per_user = inter.loc[inter["domain"] == target, "user_id"].value_counts()
        if per_user.empty:
            raise ConfigError(f"{source}: {field}: target domain {target!r} has no interactions in "
                              f"{Path(dataset) / 'interactions.parquet'} (only catalogue items)")
        if int(per_user.max()) < MIN_VALID_INTERACTIONS:
            raise ConfigError(f"{source}: {field}: target domain {target!r} has no user with "
                              f">= {MIN_VALID_INTERACTIONS} interactions in it, so no validation users "
                              f"({len(per_user)} users, at most {int(per_user.max())} each)")


def uses_backbone(cfg: TrainConfig) -> bool:
    return cfg.model.tower.use_text or cfg.lora is not None


def check_backbone(cfg: TrainConfig, source: str) -> dict | None:
    """The configured backbone directory (or cached model id) exists and has a model config, and its precision's
    optional dependency is installed. Returns its identity (None: unused)."""
    if not uses_backbone(cfg):
        return None
    from crossrec.model.backbone import backbone_identity, require_quantization

    try:
        require_quantization(cfg.backbone.precision)
        return backbone_identity(cfg.backbone)
    except CrossrecError as err:
        raise type(err)(f"{source}: {err}") from None


def check_resume_backbone(cfg: TrainConfig, identity: dict | None, source: str) -> None:
    """Re-running a run resumes its checkpoints; they hold heads and adapters of the run's first backbone."""
    previous = Path(cfg.run_dir()) / "config.yaml"
    if identity is None or "://" in cfg.storage_path or not previous.is_file():
        return
    from crossrec.model.backbone import backbone_identity

    try:
        old = TrainConfig.from_yaml(previous)
        old_identity = backbone_identity(old.backbone) if uses_backbone(old) else None
    except CrossrecError:
        old, old_identity = None, None
    if old is None or not uses_backbone(old):
        return
    if old_identity is None or not same_backbone(old_identity, identity):
        was = describe_backbone(old_identity) if old_identity else repr(old.backbone.path)
        raise ConfigError(f"{source}: backbone.path: run {cfg.run_name!r} ({previous.parent}) was started with "
                          f"backbone {was}; its checkpoints and adapters do not fit {describe_backbone(identity)}; "
                          f"use a new run_name or the run's backbone")


def check_train_config(cfg: TrainConfig, source: str | None = None) -> None:
    """All driver-side checks of a training run (paths already resolved)."""
    source = source or cfg.source
    identity = check_backbone(cfg, source)
    check_dataset_targets(cfg.dataset, cfg.targets, source)
    check_resume_backbone(cfg, identity, source)


def check_bundle_backbone(bundle: str, cfg: TrainConfig, source: str, field: str = "bundle") -> None:
    """A bundle reused with ``cfg`` (e.g. a sweep's cached embeddings) is intact and from ``cfg``'s backbone."""
    from crossrec.model.bundle_io import MANIFEST, verify_bundle

    try:
        manifest = verify_bundle(Path(bundle))
    except CrossrecError as err:
        raise type(err)(f"{source}: {field}: {err}") from None
    recorded = manifest.get("backbone")
    identity = check_backbone(cfg, source)
    if recorded is None or identity is None or same_backbone(recorded, identity):
        return
    raise ConfigError(f"{source}: {field}: {Path(bundle) / MANIFEST}: the bundle was trained on backbone "
                      f"{describe_backbone(recorded)}, but backbone.path of the config is {describe_backbone(identity)}")
