"""Keep Ray's known-harmless log noise out of crossrec's output, without hiding real errors.

Ray Train 2.5x's controller logs ``Failed to stop PlacementGroupCleaner gracefully`` with a
``GetTimeoutError: Timed out while waiting for GCS`` traceback at the end of a fit on a busy machine; Ray calls
it harmless (the cleaner is a detached actor that exits on its own) but every such traceback reaches the
driver's log. :func:`install` drops exactly the records listed in :data:`HARMLESS` at the loggers that emit
them; every other record, including errors from the same loggers, passes. It runs in every Ray worker process
through ``runtime_env={"worker_process_setup_hook": HOOK}`` (set by ``crossrec``'s local Ray and by
``crossrec submit``) and in the driver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

__all__ = ["HARMLESS", "HOOK", "HarmlessNoise", "install", "is_harmless"]

HOOK = "crossrec.utils.ray_logs.install"


@dataclass(frozen=True)
class HarmlessNoise:
    """A log record Ray emits that needs no action: the logger, the start of its message and, when the record
    carries a traceback, the exception type's name."""

    logger: str
    message_prefix: str
    exception: str | None = None
    why: str = ""


HARMLESS: tuple[HarmlessNoise, ...] = (
    HarmlessNoise("ray.train.v2._internal.callbacks.placement_group_callback",
                  "Failed to stop PlacementGroupCleaner gracefully", "GetTimeoutError",
                  why="the detached cleaner actor exits by itself once the controller is gone"),
)


def is_harmless(record: logging.LogRecord) -> bool:
    for noise in HARMLESS:
        if record.name != noise.logger or not record.getMessage().startswith(noise.message_prefix):
            continue
        exc = record.exc_info[0] if record.exc_info else None
        if noise.exception is None or (exc is not None and noise.exception in {c.__name__ for c in exc.__mro__}):
            return True
    return False


class _Filter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_harmless(record)


def install() -> None:
    """Attach the filter to each logger of :data:`HARMLESS` (idempotent; also a worker_process_setup_hook)."""
    for name in {n.logger for n in HARMLESS}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Filter) for f in logger.filters):
            logger.addFilter(_Filter())
