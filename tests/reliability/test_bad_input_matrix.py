"""Every malformed input of bench/reliability_inputs.py through the ``crossrec`` CLI: a non-zero exit, ONE
error line naming the file and the field, no traceback, and no output left behind that looks complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import crossrec.benchmarks.bad_inputs as ri  # behind bench/reliability_inputs.py

CASES = {c.name: c for c in ri.CASES}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> ri.Workspace:
    return ri.Workspace(tmp_path_factory.mktemp("bad-inputs"))


def test_the_matrix_covers_every_area() -> None:
    assert {c.area for c in ri.CASES} == {"data", "train", "tune", "evaluate"}
    assert len(CASES) == len(ri.CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, workspace: ri.Workspace) -> None:
    import ray

    out = ri.run_case(CASES[name], workspace)
    assert not out.traceback, out.error_line
    assert out.exit_code == 2, (out.exit_code, out.error_line)
    assert out.stderr_lines == 1 and out.error_line.startswith("error: "), out.error_line
    assert not out.missing_names, (out.missing_names, out.error_line)
    assert not out.leftovers, out.leftovers
    assert not ray.is_initialized()  # refused before any Ray runtime was started


def test_leftover_check_sees_complete_outputs(workspace: ri.Workspace, tmp_path: Path) -> None:
    """The leftover check itself: a valid dataset/bundle/file counts as complete, a half-written one not."""
    import shutil

    assert ri.complete_looking(workspace.dataset()) and ri.complete_looking(workspace.bundle())
    half = shutil.copytree(workspace.bundle(), tmp_path / "half")
    (half / "manifest.json").unlink()
    assert not ri.complete_looking(half) and not ri.complete_looking(tmp_path / "absent")
    (tmp_path / "preds.jsonl").write_text("{}\n")
    assert ri.complete_looking(tmp_path / "preds.jsonl")


def test_console_script_prints_one_line(workspace: ri.Workspace, tmp_path: Path) -> None:
    """The installed ``crossrec`` command (a separate process, not ``main()``): exit 2, one stderr line."""
    argv = CASES["unknown target domain"].build(workspace, tmp_path)
    proc = subprocess.run([str(Path(sys.executable).parent / "crossrec"), *argv], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml: targets: unknown target domain 'films'" in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_bench_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "inputs.json"
    assert ri.run_bad_inputs(out, quick=True, work=tmp_path / "work") == 0  # bench/reliability_inputs.py --quick
    import json

    result = json.loads(out.read_text())
    assert result["failed"] == [] and [c["area"] for c in result["cases"]] == ["data", "train", "tune", "evaluate"]
    assert result["table_md"].count("\n") == 4 + 1 and "| yes |" in result["table_md"]
