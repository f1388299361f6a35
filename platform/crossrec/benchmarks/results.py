"""How benchmark results are shown and written: Markdown tables and atomic JSON result files.

Every ``bench/*.py`` script prints its table with :func:`format_table` and writes its result with
:func:`write_json` (``docs/results/<name>.json`` by default; tests pass an ``--out`` in a temporary
directory). Writes go through :func:`crossrec.utils.io.atomic_write_text`: never a half-written result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossrec.benchmarks.machine import machine_info
from crossrec.utils.io import atomic_write_text


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], floatfmt: str = ".3g") -> str:
    """A GitHub-Markdown table of ``rows`` restricted to ``columns`` (also readable on a terminal)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (plus ``machine`` if missing) as indented JSON; prints where."""
    payload = {"machine": machine_info(), **payload} if "machine" not in payload else payload
    out = atomic_write_text(Path(path), json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {out}")
    return out
