"""Ray's known-harmless log noise is dropped in Ray's worker processes, and real errors still reach the user."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from crossrec.utils.ray_logs import HARMLESS, is_harmless

NOISE = HARMLESS[0]


def _record(name: str, message: str, exc: BaseException | None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_only_the_listed_records_are_harmless() -> None:
    from ray.exceptions import GetTimeoutError

    assert is_harmless(_record(NOISE.logger, NOISE.message_prefix + ".", GetTimeoutError("Timed out")))
    assert not is_harmless(_record(NOISE.logger, NOISE.message_prefix + ".", ValueError("a real failure")))
    assert not is_harmless(_record(NOISE.logger, "Failed to register placement group", GetTimeoutError("x")))
    assert not is_harmless(_record("ray.train", NOISE.message_prefix, GetTimeoutError("x")))


SCRIPT = textwrap.dedent('''
    import logging, sys
    import ray
    from crossrec.train.run import ensure_ray
    from crossrec.utils.ray_logs import HARMLESS

    ensure_ray(num_cpus=1)  # embedded Ray; every worker process runs the filter as its setup hook

    @ray.remote
    def log_both(name, prefix):
        from ray.exceptions import GetTimeoutError
        logger = logging.getLogger(name)
        try:
            raise GetTimeoutError("Timed out while waiting for GCS")
        except GetTimeoutError:
            logger.exception(prefix + ".")  # the harmless noise
        try:
            raise ValueError("REAL-PROBLEM-IN-WORKER")
        except ValueError:
            logger.exception(prefix + ".")  # same logger and message, a real error
        return 1

    @ray.remote
    def fail():
        raise RuntimeError("BOOM-FROM-WORKER")

    ray.get(log_both.remote(HARMLESS[0].logger, HARMLESS[0].message_prefix))
    try:
        ray.get(fail.remote())
    except Exception as err:
        print("driver saw:", type(err).__name__, "BOOM-FROM-WORKER" in str(err), flush=True)
    import time; time.sleep(3)  # let the log monitor forward the workers' lines
    ray.shutdown()
''')


def test_noise_is_dropped_in_workers_and_real_errors_reach_the_driver() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "driver saw: RayTaskError(RuntimeError) True" in text  # a worker's exception reaches the caller
    assert "REAL-PROBLEM-IN-WORKER" in text  # a real error logged by the same Ray logger is printed
    assert "Timed out while waiting for GCS" not in text  # the known-harmless traceback is not
