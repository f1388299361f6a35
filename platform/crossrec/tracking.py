"""Experiment tracking with MLflow: one run per training run, sweep trial or benchmark row.

``tracking:`` in a train, sweep or quality-benchmark config (:class:`TrackingConfig`). By default runs go to a
local SQLite store in the run's own directory (``<dir>/mlflow.db``, artifacts in ``<dir>/mlartifacts``), so
nothing needs a server; ``tracking_uri: http://mlflow:5000`` sends them to a shared MLflow server instead.
Open the UI on a finished run with::

    mlflow ui --backend-store-uri sqlite:///runs/<run>/mlflow.db     # then http://127.0.0.1:5000

Tracking never stops the work it records: a store that cannot be reached gives one warning line and the run
continues untracked. MLflow is imported only when a tracker starts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from crossrec.config import StrictModel

__all__ = ["Tracker", "TrackingConfig", "flatten", "local_store_uri", "metric_key", "prepare_experiment"]


class TrackingConfig(StrictModel):
    """Where runs are tracked (MLflow)."""

    enabled: bool = Field(True, description="Track this run with MLflow.")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (e.g. http://mlflow:5000 on a cluster); "
                                     "null: a local SQLite store in the run directory (<dir>/mlflow.db).")
    experiment: str | None = Field(None, description="Experiment name (default: the run, sweep or benchmark name).")


def local_store_uri(directory: str | Path) -> str:
    """The SQLite tracking URI of a run directory's local store."""
    return f"sqlite:///{Path(directory).resolve() / 'mlflow.db'}"


def metric_key(name: str) -> str:
    """A metric name MLflow accepts (``ndcg@10`` -> ``ndcg_at_10``)."""
    return name.replace("@", "_at_")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config dict -> {"model.tower.d_model": "64", ...} (MLflow params are flat strings, <= 500 chars)."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)[:500]
    return out


class Tracker:
    """One MLflow run, through ``MlflowClient`` (no global state, safe in Ray workers). Every method is a no-op
    once tracking is off or has failed."""

    def __init__(self, uri: str | None, run_id: str | None) -> None:
        self.uri, self.run_id = uri, run_id
        self._client = None

    @property
    def active(self) -> bool:
        return self.uri is not None and self.run_id is not None

    @classmethod
    def disabled(cls) -> Tracker:
        return cls(None, None)

    @classmethod
    def start(cls, cfg: TrackingConfig | None, directory: str | Path, experiment: str, run_name: str,
              params: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
              resume_key: str | None = None) -> Tracker:
        """Start a run in ``experiment``, or with ``resume_key`` reopen the run tagged with it (a resumed training
        run; settings that changed since are recorded as ``resumed.<param>`` tags). ``directory`` holds the local
        store when ``cfg.tracking_uri`` is null."""
        if cfg is None or not cfg.enabled:
            return cls.disabled()
        local = cfg.tracking_uri is None
        uri = local_store_uri(directory) if local else cfg.tracking_uri
        try:
            client = _client(uri)
            exp_id = _experiment(client, cfg, directory, experiment)
            run_id = _reopen(client, exp_id, resume_key) if resume_key else None
            if run_id is not None and params:  # params are immutable: a resumed run records changes as tags
                logged = client.get_run(run_id).data.params
                for k, v in params.items():
                    if k in logged and logged[k] != str(v)[:500]:
                        client.set_tag(run_id, f"resumed.{k}", str(v)[:500])
            if run_id is None:
                all_tags = {**(tags or {}), **({"crossrec.resume_key": resume_key} if resume_key else {})}
                run_id = client.create_run(exp_id, run_name=run_name, tags=all_tags).info.run_id
                if params:
                    _log_params(client, run_id, params)
        except Exception as err:  # noqa: BLE001 - tracking must not stop training
            _warn(uri, err)
            return cls.disabled()
        tracker = cls(uri, run_id)
        tracker._client = client
        return tracker

    def client(self):
        if self._client is None:
            self._client = _client(self.uri)
        return self._client

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Numeric values of ``metrics`` at ``step`` (names made MLflow-safe)."""
        if not self.active:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(metric_key(k), float(v), now, step or 0) for k, v in metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool)]
        self._call(lambda: self.client().log_batch(self.run_id, metrics=rows))

    def log_artifacts(self, directory: str | Path, artifact_path: str | None = None) -> None:
        if self.active:
            self._call(lambda: self.client().log_artifacts(self.run_id, str(directory), artifact_path))

    def finish(self, failed: bool = False) -> None:
        if self.active:
            self._call(lambda: self.client().set_terminated(self.run_id, "FAILED" if failed else "FINISHED"))

    def as_dict(self) -> dict[str, str | None]:
        """What a Ray worker needs to log into the same run (picklable)."""
        return {"uri": self.uri, "run_id": self.run_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Tracker:
        return cls(data.get("uri"), data.get("run_id")) if data else cls.disabled()

    def _call(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - tracking must not stop training
            _warn(self.uri, err)
            self.run_id = None


def prepare_experiment(cfg: TrackingConfig | None, directory: str | Path, experiment: str) -> tuple[str, str] | None:
    """(tracking URI, experiment name) with the experiment created (artifacts beside a local store), for loggers
    that open runs themselves (Ray Tune's MLflow callback); None when tracking is off or unreachable."""
    if cfg is None or not cfg.enabled:
        return None
    uri = local_store_uri(directory) if cfg.tracking_uri is None else cfg.tracking_uri
    try:
        _experiment(_client(uri), cfg, directory, experiment)
    except Exception as err:  # noqa: BLE001 - tracking must not stop the sweep
        _warn(uri, err)
        return None
    return uri, cfg.experiment or experiment


def _experiment(client, cfg: TrackingConfig, directory: str | Path, default_name: str) -> str:
    """The id of ``cfg.experiment`` (or ``default_name``), created if missing."""
    name = cfg.experiment or default_name
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    local = cfg.tracking_uri is None
    if local:
        Path(directory).mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=(Path(directory).resolve() / "mlartifacts").as_uri()
                                    if local else None)


def _client(uri: str):
    import logging

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # an unreachable server fails in seconds
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # after import (mlflow sets its own level): "Creating initial MLflow
        logging.getLogger(name).setLevel(logging.WARNING)  # database tables..." is not the user's news

    return MlflowClient(tracking_uri=uri)


def _reopen(client, exp_id: str, key: str) -> str | None:
    runs = client.search_runs([exp_id], filter_string=f"tags.`crossrec.resume_key` = '{key}'", max_results=1)
    return runs[0].info.run_id if runs else None


def _log_params(client, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:500]) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=items[start : start + 100])


def _warn(uri: str | None, err: Exception) -> None:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    print(f"warning: tracking: {uri}: {first[:300]}; continuing without tracking", file=sys.stderr, flush=True)
