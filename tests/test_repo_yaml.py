"""Every YAML file in the repository is parsed by the typed model it belongs to (none is left unchecked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tracked_yaml() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.yaml", "*.yml"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
        return sorted(REPO / p for p in out)
    except (OSError, subprocess.CalledProcessError):
        return sorted(p for p in REPO.rglob("*.y*ml") if ".venv" not in p.parts)


def check_train(path: Path) -> None:
    from crossrec.train.config import TrainConfig

    TrainConfig.from_yaml(path)


def check_sweep(path: Path) -> None:
    from crossrec.train.config import TrainConfig
    from crossrec.tune.config import SweepConfig, build_search_space

    cfg = SweepConfig.from_yaml(path)
    build_search_space(cfg, TrainConfig.from_yaml(REPO / cfg.base_config), source=str(path))


def check_serve(path: Path) -> None:
    import importlib

    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    for app in schema.applications:
        module, _, attr = app.import_path.partition(":")
        builder = getattr(importlib.import_module(module), attr)
        assert callable(builder), app.import_path
        from crossrec.serve.app import ServeAppConfig

        args = ServeAppConfig.from_dict(app.args, source=f"{path}: args")  # the builder's typed args validate
        check_deployment_overrides(path, args.layout, yaml.safe_load(path.read_text()), app.name)


def check_deployment_overrides(path: Path, layout: str, raw: dict, app_name: str) -> None:
    """A serve config's ``deployments:`` name deployments of its layout and only list what differs from
    crossrec.serve.app.DEPLOYMENT_DEFAULTS (the one source of the defaults)."""
    from crossrec.serve.app import DEPLOYMENT_DEFAULTS, LAYOUT_DEPLOYMENTS

    app = next(a for a in raw["applications"] if a["name"] == app_name)
    for dep in app.get("deployments", []):
        assert dep["name"] in LAYOUT_DEPLOYMENTS[layout], f"{path}: {dep['name']} is not a {layout} deployment"
        same = {k for k, v in dep.items() if k != "name" and DEPLOYMENT_DEFAULTS[dep["name"]].get(k) == v}
        assert not same, f"{path}: {dep['name']} repeats the defaults {sorted(same)}"


def check_domains(path: Path) -> None:
    from crossrec.data.domains import load_domain_mapping

    load_domain_mapping(str(path))


def check_job(cls_name: str):
    def check(path: Path) -> None:
        from crossrec.jobs import configs

        getattr(configs, cls_name).from_yaml(path)

    return check


def check_quickstart_train(path: Path) -> None:
    from crossrec.quickstart import quickstart_train_config

    quickstart_train_config(Path("data"), Path("runs"), "movies")


def check_quality(path: Path) -> None:
    from crossrec.benchmarks.quality_config import QualityConfig
    from crossrec.benchmarks.quality_methods import crossrec_config
    from crossrec.train.config import TrainConfig

    cfg = QualityConfig.from_yaml(path)
    base = TrainConfig.from_yaml(REPO / cfg.base_train_config)
    for spec in cfg.methods:  # every method's overrides apply to the base and validate
        if spec.kind == "crossrec":
            crossrec_config(base, spec, 0)


def check_new_items(path: Path) -> None:
    from crossrec.benchmarks.quality_config import QualityConfig

    check_quality(path)
    assert QualityConfig.from_yaml(path).item_cold_start is not None, f"{path}: a new-item config hides items"


def check_explanations(path: Path) -> None:
    from crossrec.benchmarks.explanations import ExplanationsConfig
    from crossrec.benchmarks.quality_config import QualityConfig

    cfg = ExplanationsConfig.from_yaml(path)
    for run in cfg.runs:
        check_quality(REPO / run.quality_config)
        quality = QualityConfig.from_yaml(REPO / run.quality_config)
        assert run.target in quality.targets, f"{path}: run {run.name}: target {run.target!r} not in its quality config"
        assert (run.method or quality.primary) in {m.name for m in quality.methods if m.kind == "crossrec"}


def check_quality_suite(path: Path) -> None:
    from crossrec.benchmarks.quality_config import QualitySuiteConfig

    for config in QualitySuiteConfig.from_yaml(path).configs:
        check_quality(REPO / config)


def check_screen(path: Path) -> None:
    from crossrec.benchmarks.quality_config import QualityConfig
    from crossrec.benchmarks.quality_methods import crossrec_config
    from crossrec.benchmarks.screen import ScreenConfig
    from crossrec.train.config import TrainConfig

    cfg = ScreenConfig.from_yaml(path)
    check_quality(REPO / cfg.quality_config)
    base = TrainConfig.from_yaml(REPO / QualityConfig.from_yaml(REPO / cfg.quality_config).base_train_config)
    for spec in cfg.methods:
        if spec.kind == "crossrec":
            crossrec_config(base, spec.model_copy(update={"overrides": {**cfg.base_overrides, **spec.overrides}}), 0)


def check_runtime_env(path: Path) -> None:
    from ray.runtime_env import RuntimeEnv

    from crossrec.ops.submit import default_runtime_env

    RuntimeEnv(**default_runtime_env(REPO))  # Ray's own validation; paths resolve in this checkout


def check_parses(path: Path) -> None:
    assert yaml.safe_load(path.read_text()) is not None


CHECKS = {
    "jobs/runtime_env.yaml": check_runtime_env,
    "jobs/configs/local_cpu.yaml": check_train,
    "jobs/configs/gpu_cluster.yaml": check_train,
    "jobs/configs/sweep_local.yaml": check_sweep,
    "jobs/configs/sweep_cluster.yaml": check_sweep,
    "jobs/configs/evaluate_local.yaml": check_job("EvaluateJobConfig"),
    "jobs/configs/batch_recommend_local.yaml": check_job("BatchRecommendJobConfig"),
    "jobs/configs/embed_items_local.yaml": check_job("EmbedItemsJobConfig"),
    "platform/crossrec/configs/quickstart_train.yaml": check_quickstart_train,
    "bench/configs/quality_ml1m.yaml": check_quality,
    "bench/configs/quality_ml1m_long.yaml": check_quality,
    "bench/configs/quality_crossrec_base.yaml": check_train,
    "bench/configs/quality_amazon.yaml": check_quality,
    "bench/configs/quality_quick.yaml": check_quality,
    "bench/configs/new_items_ml1m.yaml": check_new_items,
    "bench/configs/new_items_amazon.yaml": check_new_items,
    "bench/configs/explanations.yaml": check_explanations,
    "bench/configs/quality_suite.yaml": check_quality_suite,
    "bench/configs/quality_crossrec_quick.yaml": check_train,
    "bench/configs/quality_crossrec_ml1m.yaml": check_train,
    "bench/configs/quality_crossrec_amazon.yaml": check_train,
    "bench/configs/screen_amazon.yaml": check_screen,
    "bench/configs/screen_ml1m.yaml": check_screen,
}
PREFIX_CHECKS = {
    "serve_configs/": check_serve,
    "platform/crossrec/configs/domains/": check_domains,
    # Validated against Ray's / KubeRay's schemas by tests/ops (cluster launcher and CRDs).
    "deploy/kuberay/": check_parses,
    "deploy/monitoring/": check_parses,  # checked against the manifests and cluster.yaml by tests/ops/test_monitoring.py
    "cluster.yaml": check_parses,
}


def checker(rel: str):
    if rel in CHECKS:
        return CHECKS[rel]
    for prefix, fn in PREFIX_CHECKS.items():
        if rel.startswith(prefix):
            return fn
    return None


@pytest.mark.parametrize("path", tracked_yaml(), ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_file_is_valid(path: Path) -> None:
    rel = str(path.relative_to(REPO))
    fn = checker(rel)
    assert fn is not None, f"{rel}: no typed check registered for this YAML; add one to tests/test_repo_yaml.py"
    fn(path)
