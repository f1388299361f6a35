"""KubeRay manifests: structure, versions consistent with cluster.yaml, RayService == serve_configs/gpu.yaml."""

from __future__ import annotations

from pathlib import Path

import ray
import yaml

from crossrec.ops import kuberay

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "deploy" / "kuberay").glob("*.yaml"))


def test_manifests_are_ray_io_v1_with_gpu_workers() -> None:
    kinds = set()
    for path in MANIFESTS:
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"] == "ray.io/v1", path
        kinds.add(doc["kind"])
        cluster = doc["spec"].get("rayClusterSpec") or doc["spec"]["rayClusterConfig"]
        assert cluster["rayVersion"] == ray.__version__
        workers = cluster["workerGroupSpecs"]
        gpu = [c for w in workers for c in w["template"]["spec"]["containers"]
               if "nvidia.com/gpu" in c["resources"]["limits"]]
        assert gpu and all(c["resources"]["requests"]["nvidia.com/gpu"] == c["resources"]["limits"]["nvidia.com/gpu"] for c in gpu)
        if doc["kind"] == "RayJob":
            assert doc["spec"]["entrypoint"].startswith("python jobs/")
            script = doc["spec"]["entrypoint"].split()[1]
            config = doc["spec"]["entrypoint"].split("--config ")[1]
            assert (REPO / script).is_file() and (REPO / config).is_file()
    assert kinds == {"RayJob", "RayService"}


def test_rayservice_embeds_the_gpu_serve_config() -> None:
    service = yaml.safe_load(kuberay.RAYSERVICE.read_text())
    want = kuberay.serve_config_for_kuberay(yaml.safe_load(kuberay.SERVE_CONFIG.read_text()))
    assert kuberay.embedded(service) == want, "run: python -m crossrec.ops.kuberay sync"


def test_sync_repairs_a_drifted_manifest(tmp_path) -> None:
    manifest = tmp_path / "rayservice.yaml"
    manifest.write_text(kuberay.RAYSERVICE.read_text().replace("max_history: 500", "max_history: 7"))
    assert kuberay.sync(kuberay.SERVE_CONFIG, manifest) is True
    assert kuberay.sync(kuberay.SERVE_CONFIG, manifest) is False
    assert kuberay.embedded(yaml.safe_load(manifest.read_text()))["applications"][0]["args"]["max_history"] == 500
