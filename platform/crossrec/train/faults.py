"""Fault injection for the reliability tests: a Ray Train worker kills itself once, mid-epoch.

Set ``CROSSREC_FAULT_KILL_WORKER="<epoch>:<delay seconds>:<marker file>"`` in the workers' environment (for
instance ``ray.init(runtime_env={"env_vars": {...}})``): halfway through that (1-based) epoch the rank-0
worker waits ``delay`` seconds (standing in for the rest of a long epoch), writes the marker and SIGKILLs its
own process, the way an OOM kill or a lost node ends it. The marker makes it happen once: the worker that Ray
Train restarts from the latest checkpoint (``FailureConfig``) sees it and trains on. Unset (the normal case)
it costs one environment lookup per epoch.

The delay matters: Ray Train's controller collects reported checkpoints when it polls the workers
(``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``, 2 s by default), so a worker that dies less than one poll after
reporting loses that report and the run resumes from the checkpoint before it (one more epoch redone).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

KILL_WORKER_ENV = "CROSSREC_FAULT_KILL_WORKER"


def kill_hook(epoch: int, rank: int) -> Callable[[int, int], None] | None:
    """``hook(step, n_steps)`` to call after every step of 1-based ``epoch``, or None when no fault is due."""
    spec = os.environ.get(KILL_WORKER_ENV)
    if not spec or rank != 0:
        return None
    at, delay, marker = spec.split(":", 2)
    if int(at) != epoch or Path(marker).exists():
        return None

    def hook(step: int, n_steps: int) -> None:
        if step >= max(1, n_steps // 2):
            time.sleep(float(delay))
            Path(marker).write_text(json.dumps({"pid": os.getpid(), "epoch": epoch, "step": step,
                                                "n_steps": n_steps, "time": time.time()}))
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
