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


# ---- what the manifests run fits what they start -------------------------------------------------------------

# The fields of KubeRay's ray.io/v1 CRDs (ray-operator/apis/ray/v1/*_types.go, KubeRay 1.x), without the ones
# KubeRay documents as ignored ("Deprecated: This field is not used anymore").
KUBERAY_FIELDS = {
    "RayJob": {"activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
               "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint", "runtimeEnvYAML",
               "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus", "entrypointNumGpus",
               "ttlSecondsAfterFinished", "preRunningDeadlineSeconds", "shutdownAfterJobFinishes", "suspend"},
    "RayService": {"rayClusterDeletionDelaySeconds", "serveService", "upgradeStrategy", "managedBy",
                   "serveConfigV2", "rayClusterConfig", "excludeHeadPodFromServeSvc", "suspend"},
    "cluster": {"upgradeStrategy", "authOptions", "suspend", "managedBy", "autoscalerOptions",
                "headServiceAnnotations", "enableInTreeAutoscaling", "gcsFaultToleranceOptions",
                "historyServerOptions", "networkPolicy", "tlsOptions", "headGroupSpec", "rayVersion",
                "workerGroupSpecs"},
    "head": {"template", "headService", "enableIngress", "ingressOptions", "resources", "labels", "rayStartParams",
             "serviceType"},
    "worker": {"suspend", "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds", "priority",
               "resources", "labels", "rayStartParams", "template", "scaleStrategy", "numOfHosts"},
}
GPU_CLUSTER = REPO / "jobs" / "configs" / "gpu_cluster.yaml"
SWEEP_CLUSTER = REPO / "jobs" / "configs" / "sweep_cluster.yaml"


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / "deploy" / "kuberay" / name).read_text())


def _cluster(doc: dict) -> dict:
    return doc["spec"].get("rayClusterSpec") or doc["spec"]["rayClusterConfig"]


def _pods(doc: dict) -> dict[str, dict]:
    """name -> pod spec of every pod the manifest starts (head, each worker group, the RayJob submitter)."""
    cluster = _cluster(doc)
    pods = {"head": cluster["headGroupSpec"]["template"]["spec"]}
    pods |= {f"worker group {w['groupName']}": w["template"]["spec"] for w in cluster["workerGroupSpecs"]}
    if "submitterPodTemplate" in doc["spec"]:
        pods["submitter"] = doc["spec"]["submitterPodTemplate"]["spec"]
    return pods


def _mounts(pod: dict) -> set[str]:
    volumes = {v["name"] for v in pod.get("volumes", [])}
    return {m["mountPath"].rstrip("/") for c in pod["containers"] for m in c.get("volumeMounts", [])
            if m["name"] in volumes}


def unmounted(paths: list[str], doc: dict) -> list[str]:
    """``'path (pod)'`` for each absolute path that some pod of the manifest does not mount."""
    return [f"{p} ({name})" for p in paths for name, pod in _pods(doc).items()
            if not any(p == m or p.startswith(m + "/") for m in _mounts(pod))]


def _absolute_paths(value) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _absolute_paths(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


def config_paths(config: Path) -> list[str]:
    """Every absolute path a job config names, its base config's included (URIs like s3:// need no mount)."""
    data = yaml.safe_load(config.read_text())
    paths = _absolute_paths({k: v for k, v in data.items() if k != "base_config"})
    if data.get("base_config"):
        paths += config_paths(REPO / data["base_config"])
    return paths


def manifest_paths(doc: dict) -> list[str]:
    if doc["kind"] == "RayJob":
        return config_paths(REPO / doc["spec"]["entrypoint"].split("--config ")[1].split()[0])
    return [p for app in kuberay.embedded(doc)["applications"] for p in _absolute_paths(app.get("args", {}))]


def test_every_path_a_manifest_runs_with_is_mounted_in_all_its_pods() -> None:
    for path in MANIFESTS:
        doc = yaml.safe_load(path.read_text())
        paths = manifest_paths(doc)
        assert paths, path  # the configs name their data and storage
        assert unmounted(paths, doc) == [], f"{path.name}: not on a volume of the pods"


def test_an_unmounted_dataset_is_found() -> None:
    doc = _load("rayjob-train.yaml")
    assert unmounted(["/mnt/data/ml-1m", "/mnt/cluster_storage/x"], doc) == [
        "/mnt/data/ml-1m (head)", "/mnt/data/ml-1m (worker group gpu)"]
    assert unmounted(["/mnt/cluster_storage_other/x"], doc)  # a prefix of a name is not a mount


def test_the_rayservice_serves_the_bundle_the_train_job_writes() -> None:
    from crossrec.train.config import TrainConfig

    train = TrainConfig.from_yaml(GPU_CLUSTER)
    args = kuberay.embedded(_load("rayservice.yaml"))["applications"][0]["args"]
    assert args["bundle"] == train.bundle_dir()


def test_manifests_use_only_fields_kuberay_reads() -> None:
    for path in MANIFESTS:
        doc = yaml.safe_load(path.read_text())
        cluster = _cluster(doc)
        assert set(doc["spec"]) <= KUBERAY_FIELDS[doc["kind"]], path.name
        assert set(cluster) <= KUBERAY_FIELDS["cluster"], path.name
        assert set(cluster["headGroupSpec"]) <= KUBERAY_FIELDS["head"], path.name
        for group in cluster["workerGroupSpecs"]:
            assert set(group) <= KUBERAY_FIELDS["worker"], path.name


def test_rayjobs_repeat_the_submission_section_of_their_config() -> None:
    for name in ("rayjob-train.yaml", "rayjob-tune.yaml"):
        spec = _load(name)["spec"]
        config = yaml.safe_load((REPO / spec["entrypoint"].split("--config ")[1]).read_text())
        settings = config.get("submission") or {}
        assert spec.get("entrypointNumCpus", 0) == (settings.get("entrypoint_num_cpus") or 0), name
        assert spec.get("entrypointNumGpus", 0) == (settings.get("entrypoint_num_gpus") or 0), name
        assert yaml.safe_load(spec.get("runtimeEnvYAML") or "{}") == settings.get("runtime_env", {}), name


# Ray resources of a pod as KubeRay starts it: from the container's limits, unless rayStartParams or the
# group's `resources` say otherwise.
_UNITS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value) -> float:
    text = str(value)
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * _UNITS[unit]
    return float(text)


def ray_resources(group: dict) -> dict[str, float]:
    container = group["template"]["spec"]["containers"][0]["resources"]
    limits = {**container.get("requests", {}), **container.get("limits", {})}
    res = {"CPU": quantity(limits.get("cpu", 0)), "GPU": quantity(limits.get("nvidia.com/gpu", 0)),
           "memory": quantity(limits.get("memory", 0))}
    params = group.get("rayStartParams") or {}
    for key, name in (("num-cpus", "CPU"), ("num-gpus", "GPU"), ("memory", "memory")):
        if key in params:
            res[name] = quantity(params[key])
    return res | {k: quantity(v) for k, v in (group.get("resources") or {}).items()}


def per_pod(demand: dict[str, float], pod: dict[str, float]) -> int:
    """How many ``demand`` bundles one pod holds."""
    return int(min(pod.get(k, 0) / v for k, v in demand.items() if v > 0))


def test_ray_resources_of_a_pod() -> None:
    workers = _cluster(_load("rayjob-train.yaml"))["workerGroupSpecs"]
    assert ray_resources(workers[0]) == {"CPU": 8, "GPU": 1, "memory": 48 * 2**30}
    assert ray_resources(_cluster(_load("rayjob-train.yaml"))["headGroupSpec"])["GPU"] == 0
    assert per_pod({"CPU": 4, "GPU": 1}, {"CPU": 8, "GPU": 1}) == 1
    assert per_pod({"CPU": 4, "GPU": 0.25}, {"CPU": 8, "GPU": 1}) == 2


def test_worker_groups_scale_as_their_cluster_allows() -> None:
    """Without the in-tree autoscaler KubeRay keeps `replicas` pods: such a group claims no range. With it,
    replicas lies in [minReplicas, maxReplicas]."""
    for path in MANIFESTS:
        cluster = _cluster(yaml.safe_load(path.read_text()))
        for group in cluster["workerGroupSpecs"]:
            lo, n, hi = group["minReplicas"], group["replicas"], group["maxReplicas"]
            if cluster.get("enableInTreeAutoscaling"):
                assert lo <= n <= hi and lo < hi, path.name
            else:
                assert lo == n == hi, f"{path.name}: a fixed-size group claims to scale {lo}..{hi}"


def _gpu_capacity(groups: list[dict], demand: dict[str, float], key: str) -> int:
    return sum(g[key] * per_pod(demand, ray_resources(g)) for g in groups)


def test_the_train_job_cluster_holds_its_ray_train_workers() -> None:
    from crossrec.train.config import TrainConfig

    scaling = TrainConfig.from_yaml(GPU_CLUSTER).scaling
    demand = scaling.resources_per_worker()
    groups = _cluster(_load("rayjob-train.yaml"))["workerGroupSpecs"]
    assert _gpu_capacity(groups, demand, "replicas") >= scaling.num_workers


def _sweep_demand():
    from crossrec.train.config import TrainConfig
    from crossrec.tune.config import SweepConfig

    sweep = SweepConfig.from_yaml(SWEEP_CLUSTER)
    base = TrainConfig.from_yaml(REPO / sweep.base_config)
    assert sweep.mode == "full" and sweep.search == "optuna"  # full trials; optuna bounds the trials in flight
    trial = {"CPU": sweep.cpus_per_trial, "GPU": sweep.gpus_per_trial}
    return sweep, trial, base.scaling.resources_per_worker(), sweep.max_concurrent_trials * base.scaling.num_workers


def test_cluster_sweep_trials_fit_the_kuberay_worker_groups() -> None:
    sweep, trial, train_worker, workers_in_flight = _sweep_demand()
    cluster = _cluster(_load("rayjob-tune.yaml"))
    pods = [ray_resources(cluster["headGroupSpec"])] + [ray_resources(g) for g in cluster["workerGroupSpecs"]]
    assert any(per_pod(trial, p) >= sweep.max_concurrent_trials for p in pods)  # the trial drivers
    assert _gpu_capacity(cluster["workerGroupSpecs"], train_worker, "maxReplicas") >= workers_in_flight


def test_cluster_sweep_trials_fit_the_vm_cluster_node_types() -> None:
    sweep, trial, train_worker, workers_in_flight = _sweep_demand()
    vm = yaml.safe_load((REPO / "cluster.yaml").read_text())
    types = vm["available_node_types"]
    assert any(per_pod(trial, t["resources"]) >= sweep.max_concurrent_trials for t in types.values())
    workers = [t for n, t in types.items() if n != vm["head_node_type"]]
    capacity = sum(min(t["max_workers"], vm["max_workers"]) * per_pod(train_worker, t["resources"]) for t in workers)
    assert capacity >= workers_in_flight


def test_rayservice_worker_groups_hold_the_serve_config_at_min_and_max_replicas() -> None:
    from crossrec.serve.app import DEPLOYMENT_DEFAULTS

    doc = _load("rayservice.yaml")
    cluster = _cluster(doc)
    assert cluster.get("enableInTreeAutoscaling") is True  # Serve's autoscaling needs pods to match
    head = ray_resources(cluster["headGroupSpec"])
    for bound, replicas_key in (("min_replicas", "minReplicas"), ("max_replicas", "maxReplicas")):
        need = {"CPU": 0.0, "GPU": 0.0}
        for app in kuberay.embedded(doc)["applications"]:
            for dep in app["deployments"]:
                count = dep.get("autoscaling_config", {}).get(bound, dep.get("num_replicas", 1))
                opts = dep.get("ray_actor_options") or DEPLOYMENT_DEFAULTS[dep["name"]]["ray_actor_options"]
                need["CPU"] += count * opts.get("num_cpus", 1)
                need["GPU"] += count * opts.get("num_gpus", 0)
        have = {k: head[k] + sum(g[replicas_key] * ray_resources(g)[k] for g in cluster["workerGroupSpecs"])
                for k in need}
        assert all(need[k] <= have[k] for k in need), (bound, need, have)
