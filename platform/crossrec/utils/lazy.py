"""Package faces that re-export names without importing their modules up front (PEP 562).

A face lists ``name -> module``; ``from crossrec.train import TrainConfig`` then imports
``crossrec.train.config`` only, and never Ray, so that configs stay cheap to import in the CLI and jobs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package's ``__init__`` that re-exports ``exports`` (name -> module)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
