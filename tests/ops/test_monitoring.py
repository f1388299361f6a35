"""Service metrics reach Prometheus on every deployment path: the ports the manifests expose are the ports
Ray exports on, and the scrape configs select them."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _ray_groups(manifest: dict) -> list[dict]:
    cluster = manifest["spec"].get("rayClusterConfig") or manifest["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]


def test_rayservice_exports_and_exposes_the_metrics_port() -> None:
    service = yaml.safe_load((REPO / "deploy" / "kuberay" / "rayservice.yaml").read_text())
    for group in _ray_groups(service):
        port = int(group["rayStartParams"]["metrics-export-port"])
        for container in group["template"]["spec"]["containers"]:
            assert {"containerPort": port, "name": "metrics"} in container["ports"]


def test_podmonitor_scrapes_the_named_port_of_ray_pods() -> None:
    monitor = yaml.safe_load((REPO / "deploy" / "monitoring" / "podmonitor.yaml").read_text())
    assert monitor["kind"] == "PodMonitor" and monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"] == {"ray.io/is-ray-node": "yes"}  # KubeRay's pod label
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_vm_cluster_nodes_export_metrics_where_prometheus_looks() -> None:
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in cluster[key]
              if "ray start" in c]
    assert len(starts) == 2 and all("--metrics-export-port=8080" in c for c in starts)
    prometheus = yaml.safe_load((REPO / "deploy" / "monitoring" / "prometheus.yml").read_text())
    files = [f for job in prometheus["scrape_configs"] for sd in job["file_sd_configs"] for f in sd["files"]]
    assert files == ["/tmp/ray/prom_metrics_service_discovery.json"]  # written by Ray on the head node
