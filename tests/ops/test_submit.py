"""Job submission through a real local Ray head (`ray start --head`): train + evaluate succeed, a bad config fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossrec.errors import ConfigError
from crossrec.ops.submit import SubmissionConfig, read_submission, runtime_env_for

REPO = Path(__file__).resolve().parents[2]


def test_submission_section_is_typed(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"run_name": "x", "submission": {"entrypoint_num_cpus": 1,
                                                                  "runtime_env": {"env_vars": {"A": "1"}, "excludes": ["big"]}}}))
    settings = read_submission(cfg)
    env = runtime_env_for(REPO, settings)
    assert settings.entrypoint_num_cpus == 1 and env["env_vars"] == {"A": "1"}
    assert ".venv" in env["excludes"] and "big" in env["excludes"]
    assert env["py_modules"] == [str(REPO / "platform" / "crossrec")] and env["working_dir"] == str(REPO)
    assert env["worker_process_setup_hook"] == "crossrec.utils.ray_logs.install"
    with pytest.raises(ConfigError, match="jobs/runtime_env.yaml: not found"):
        runtime_env_for(tmp_path, settings)
    cfg.write_text(yaml.safe_dump({"submission": {"entrypoint_num_gpus": -1}}))
    with pytest.raises(ConfigError, match="submission: entrypoint_num_gpus"):
        read_submission(cfg)
    assert SubmissionConfig().runtime_env == {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A throwaway head (`ray start --head --block`) in its own process group: stopping it kills exactly
    its processes, never another Ray running on the same machine."""
    import signal
    import time

    import httpx

    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    port, dash = free_port(), free_port()
    # No token auth on this loopback-only cluster (Ray 2.5x enables it by default).
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    # Job entrypoints run `python …` from the head's PATH: make it this interpreter (the venv need not be active).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Every port free, so the head never collides with another Ray on this machine (agent port 52365 …).
    ports = {flag: free_port() for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                            "metrics-export-port", "ray-client-server-port",
                                            "runtime-env-agent-port")}
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}", f"--dashboard-port={dash}",
                             "--num-cpus=2", "--object-store-memory=200000000", "--include-dashboard=true",
                             "--dashboard-host=127.0.0.1", *(f"--{flag}={p}" for flag, p in ports.items())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{dash}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/version", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the local Ray head did not start within 180 s")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.ray
@pytest.mark.slow
def test_train_and_evaluate_jobs_succeed_and_a_bad_config_fails(ray_head, tmp_path) -> None:
    from crossrec.data.dataset import save_dataset
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
    from crossrec.ops.submit import submit_job

    work = tmp_path / "work"  # a checkout: jobs/ and platform/ (shipped with the job: jobs/runtime_env.yaml)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "jobs", work / "jobs", ignore=skip)
    shutil.copytree(REPO / "platform", work / "platform", ignore=skip)
    data = save_dataset(generate_synthetic(SyntheticConfig(n_users=80, n_items=16, n_topics=4, max_interactions=20)),
                        tmp_path / "data")
    train = {"run_name": "job", "dataset": str(data), "targets": ["movies"], "storage_path": str(tmp_path / "runs"),
             "lora": None, "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 8, "use_text": False}},
             "optim": {"epochs": 1, "batch_size": 32}, "submission": {"entrypoint_num_cpus": 0.5}}
    (work / "train.yaml").write_text(yaml.safe_dump(train))
    result = submit_job("train", work / "train.yaml", ray_head, working_dir=work, stream_logs=False, timeout_s=400)
    assert result.ok, result.logs_tail
    bundle = tmp_path / "runs" / "job" / "bundle"
    assert (bundle / "manifest.json").is_file() and (tmp_path / "runs" / "job" / "metrics.json").is_file()

    evaluate = {"bundle": str(bundle), "dataset": str(data), "targets": ["movies"], "output": str(tmp_path / "eval")}
    (work / "evaluate.yaml").write_text(yaml.safe_dump(evaluate))
    result = submit_job("evaluate", work / "evaluate.yaml", ray_head, working_dir=work, stream_logs=False, timeout_s=300)
    assert result.ok, result.logs_tail
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["movies"]["overall"]["n_users"] > 0

    (work / "bad.yaml").write_text(yaml.safe_dump({**train, "optim": {"epochs": -3}}))
    result = submit_job("train", work / "bad.yaml", ray_head, working_dir=work, stream_logs=False, timeout_s=300)
    assert result.status == "FAILED"
    assert "optim.epochs: Input should be greater than 0 (got -3)" in result.logs_tail


PROBE = '''
import sys
from pathlib import Path

import crossrec
from crossrec._shipped import MARKER
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

out = Path(sys.argv[1])
(out / "driver.txt").write_text(f"{MARKER} {crossrec.__file__}")


def loop():
    import crossrec
    from crossrec._shipped import MARKER

    (out / "worker.txt").write_text(f"{MARKER} {crossrec.__file__}")


TorchTrainer(loop, scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
             run_config=RunConfig(storage_path=str(out / "train"), name="probe")).fit()
'''


def _checkout_with_a_change(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the repo's code with a module the installed crossrec does not have."""
    import uuid

    checkout = tmp_path / "checkout"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "platform", checkout / "platform", ignore=skip)
    shutil.copytree(REPO / "jobs", checkout / "jobs", ignore=skip)
    marker = uuid.uuid4().hex
    (checkout / "platform" / "crossrec" / "_shipped.py").write_text(f'MARKER = "{marker}"\n')
    (checkout / "probe.py").write_text(PROBE)
    return checkout, marker


def _assert_shipped(out: Path, marker: str) -> None:
    for where in ("driver", "worker"):  # the job's driver and a Ray Train worker ran the submitted module
        got_marker, crossrec_file = (out / f"{where}.txt").read_text().split(" ", 1)
        assert got_marker == marker and not crossrec_file.startswith(str(REPO)), (where, crossrec_file)


@pytest.mark.ray
@pytest.mark.slow
def test_submitted_code_runs_on_the_driver_and_in_train_workers(ray_head, tmp_path) -> None:
    """Both submission paths (crossrec submit's runtime_env, the documented `ray job submit` line) run the
    submitted checkout's crossrec, not the copy installed where the cluster runs."""
    import time

    from ray.job_submission import JobSubmissionClient

    with pytest.raises(ImportError):
        import crossrec._shipped  # noqa: F401  (the installed crossrec lacks the change)
    checkout, marker = _checkout_with_a_change(tmp_path)
    client = JobSubmissionClient(ray_head)
    out = tmp_path / "sdk"
    out.mkdir()
    job = client.submit_job(entrypoint=f"python probe.py {out}", runtime_env=runtime_env_for(checkout, SubmissionConfig()),
                            entrypoint_num_cpus=0.5)
    deadline = time.monotonic() + 600  # generous: a busy 2-core machine
    while str(client.get_job_status(job)).split(".")[-1] not in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert time.monotonic() < deadline, "job did not finish in 600 s: " + client.get_job_logs(job)[-3000:]
        time.sleep(1)
    assert str(client.get_job_status(job)).endswith("SUCCEEDED"), client.get_job_logs(job)[-3000:]
    _assert_shipped(out, marker)

    cli = tmp_path / "cli"
    cli.mkdir()
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    done = subprocess.run([ray_bin, "job", "submit", "--address", ray_head, "--working-dir", ".", "--runtime-env",
                           "jobs/runtime_env.yaml", "--entrypoint-num-cpus", "0.5", "--", "python", "probe.py", str(cli)],
                          cwd=checkout, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _assert_shipped(cli, marker)
