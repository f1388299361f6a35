"""cluster.yaml passes Ray's own cluster-launcher validation (no cloud needed) and has what crossrec needs."""

from __future__ import annotations

from pathlib import Path

import ray
import yaml

REPO = Path(__file__).resolve().parents[2]


def load() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_ray_validator_accepts_cluster_yaml() -> None:
    from ray.autoscaler._private.util import validate_config

    validate_config(load())  # raises on schema violations


def test_cpu_head_and_autoscaled_gpu_workers() -> None:
    cfg = load()
    head = cfg["available_node_types"][cfg["head_node_type"]]
    assert "GPU" not in head["resources"]
    gpu_types = [t for n, t in cfg["available_node_types"].items() if n != cfg["head_node_type"]]
    assert gpu_types and all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in gpu_types)
    assert all(t["resources"].get("GPU", 0) >= 1 for t in gpu_types)
    assert cfg["idle_timeout_minutes"] > 0


def test_image_matches_the_installed_ray_and_installs_crossrec() -> None:
    cfg = load()
    image = cfg["docker"]["image"]
    assert image.startswith(f"rayproject/ray:{ray.__version__}-") and image.endswith("-gpu")
    assert cfg["file_mounts"]["~/crossrec"] == "."
    assert any("pip install" in c and "~/crossrec" in c for c in cfg["setup_commands"])


def test_nodes_install_the_extras_the_cluster_configs_use() -> None:
    """gpu_cluster.yaml trains an nf4 backbone (bitsandbytes), sweep_cluster.yaml searches with optuna and
    every sweep draws sweep.png (matplotlib): without their extras those jobs stop with a one-line error."""
    train = yaml.safe_load((REPO / "jobs" / "configs" / "gpu_cluster.yaml").read_text())
    sweep = yaml.safe_load((REPO / "jobs" / "configs" / "sweep_cluster.yaml").read_text())
    assert train["backbone"]["precision"] == "nf4" and sweep["search"] == "optuna"
    install = next(c for c in load()["setup_commands"] if "pip install" in c)
    extras = install.split("[")[1].split("]")[0].split(",")
    assert {"quant", "tune", "plots"} <= set(extras)


def test_validator_rejects_a_broken_copy() -> None:
    import pytest
    from ray.autoscaler._private.util import validate_config

    broken = load()
    broken["available_node_types"]["ray.worker.gpu"]["min_workers"] = "zero"
    with pytest.raises(Exception, match="zero"):
        validate_config(broken)
