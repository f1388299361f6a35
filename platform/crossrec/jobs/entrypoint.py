"""Shared ``main`` of the ``jobs/*.py`` entrypoints: argparse → typed config → library call.

User errors print one line and exit 2 (the Ray job then ends FAILED with that line in its logs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from crossrec.config import StrictModel
from crossrec.errors import CrossrecError


def job_main(description: str, config_cls: type[StrictModel], run: Callable[[Any], Any],
             argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help=f"job config YAML ({config_cls.__name__})")
    args = parser.parse_args(argv)
    try:
        run(config_cls.from_yaml(args.config))
    except CrossrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
