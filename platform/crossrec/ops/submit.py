"""Submit crossrec jobs to a Ray cluster through the Job API, stream their logs, return the final state.

    crossrec submit train --config jobs/configs/gpu_cluster.yaml --address http://HEAD:8265

The job's YAML may carry a ``submission:`` section (:class:`SubmissionConfig`): entrypoint resources and
a runtime_env merged over the default one, ``jobs/runtime_env.yaml`` (also what the documented ``ray job submit``
line passes): working_dir = the checkout, with bulky dirs excluded, and ``py_modules`` = its ``platform/crossrec``,
so the driver and every worker run the submitted crossrec code, not a copy installed on the nodes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from crossrec.config import StrictModel
from crossrec.errors import ConfigError

JOBS = {
    "train": "jobs/train_adapters.py",
    "tune": "jobs/tune_fusion.py",
    "evaluate": "jobs/evaluate.py",
    "embed": "jobs/embed_items.py",
    "batch-recommend": "jobs/batch_recommend.py",
}
RUNTIME_ENV_FILE = Path("jobs") / "runtime_env.yaml"  # relative to the checkout
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class SubmissionConfig(StrictModel):
    """The optional ``submission:`` section of a job config."""

    entrypoint_num_cpus: float | None = Field(None, ge=0)
    entrypoint_num_gpus: float | None = Field(None, ge=0)
    runtime_env: dict[str, Any] = Field(default_factory=dict, description="Merged over the default runtime_env.")


@dataclass
class JobResult:
    job_id: str
    status: str
    logs_tail: str

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED"


def read_submission(config: str | Path) -> SubmissionConfig:
    """The ``submission`` section of a job YAML (the rest of the file is validated by the job itself)."""
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    data = yaml.safe_load(path.read_text()) or {}
    return SubmissionConfig.from_dict(data.get("submission") or {}, source=f"{path}: submission")


def default_runtime_env(working_dir: str | Path) -> dict[str, Any]:
    """``jobs/runtime_env.yaml`` of the checkout at ``working_dir``, its relative paths made absolute."""
    root = Path(working_dir).resolve()
    path = root / RUNTIME_ENV_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; submit from a crossrec checkout (working_dir={working_dir})")
    env = yaml.safe_load(path.read_text()) or {}
    env["working_dir"] = str(root / env.get("working_dir", "."))
    env["py_modules"] = [str(root / m) for m in env.get("py_modules", [])]
    for module in env["py_modules"]:
        if not Path(module).is_dir():
            raise ConfigError(f"{path}: py_modules: {module} is not a directory")
    return env


def runtime_env_for(working_dir: str | Path, settings: SubmissionConfig) -> dict[str, Any]:
    """The default runtime_env of the checkout with the job config's ``submission.runtime_env`` merged over it
    (``excludes`` and ``py_modules`` are added to, other keys replaced)."""
    env = default_runtime_env(working_dir)
    extra = dict(settings.runtime_env)
    env["excludes"] = list(env.get("excludes", [])) + list(extra.pop("excludes", []))
    env["py_modules"] = env["py_modules"] + list(extra.pop("py_modules", []))
    env.update(extra)
    return env


def _submit_with_retry(client, retry_s: float = 240.0, **kwargs: Any) -> str:
    """A freshly started head answers "No available agent to submit job" until its job agent is up."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return client.submit_job(**kwargs)
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(2)


def submit_job(job: str, config: str | Path, address: str, working_dir: str | Path = ".", wait: bool = True,
               stream_logs: bool = True, timeout_s: float | None = None, poll_s: float = 1.0) -> JobResult:
    """Submit ``python jobs/<job>.py --config <config>``; optionally wait, streaming logs. Ctrl-C stops the job."""
    from ray.job_submission import JobSubmissionClient

    if job not in JOBS:
        raise ConfigError(f"unknown job {job!r}; choose one of {sorted(JOBS)}")
    settings = read_submission(config)
    client = JobSubmissionClient(address)
    config_rel = Path(config).resolve().relative_to(Path(working_dir).resolve()) \
        if Path(config).resolve().is_relative_to(Path(working_dir).resolve()) else Path(config)
    job_id = _submit_with_retry(
        client,
        entrypoint=f"python {JOBS[job]} --config {config_rel}",
        runtime_env=runtime_env_for(working_dir, settings),
        entrypoint_num_cpus=settings.entrypoint_num_cpus,
        entrypoint_num_gpus=settings.entrypoint_num_gpus,
    )
    print(f"submitted {job} as {job_id} to {address}", flush=True)
    if not wait:
        return JobResult(job_id, str(client.get_job_status(job_id)), "")
    shown, start = 0, time.monotonic()
    try:
        while True:
            status = str(client.get_job_status(job_id)).split(".")[-1]
            logs = client.get_job_logs(job_id)
            if stream_logs and len(logs) > shown:
                print(logs[shown:], end="", flush=True)
                shown = len(logs)
            if status in TERMINAL:
                return JobResult(job_id, status, logs[-4000:])
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                client.stop_job(job_id)
                return JobResult(job_id, "STOPPED", logs[-4000:])
            time.sleep(poll_s)
    except KeyboardInterrupt:
        client.stop_job(job_id)
        print(f"\nstopped {job_id}", flush=True)
        return JobResult(job_id, "STOPPED", "")
