"""The two-checkout serving comparison: round order, the summary and its errors (the deployments themselves run
in the serving benchmark's tests)."""

from __future__ import annotations

import pytest

from crossrec.benchmarks.serve_ab import round_order, summarize_ab


def test_rounds_alternate_so_drift_falls_on_both_sides() -> None:
    assert round_order(6) == [0, 1, 1, 0, 0, 1]
    assert round_order(8).count(0) == round_order(8).count(1) == 4


def row(side: str, where: str, mode: str, p50: float, errors: int = 0) -> dict:
    return {"side": side, "where": where, "mode": mode, "p50_ms": p50, "p95_ms": 2 * p50, "cpu_ms_per_request": p50,
            "errors": errors}


def test_summary_takes_medians_per_side_and_a_ratio_only_where_both_measured() -> None:
    rows = [row("base", "composed", "recommend", p) for p in (10.0, 11.0, 30.0)]
    rows += [row("head", "composed", "recommend", p, errors=1) for p in (12.0, 10.5, 12.5)]
    rows += [row("head", "composed", "text-new", 80.0), row("base", "in-process", "recommend", 4.0),
             row("head", "in-process", "recommend", 3.0)]
    summary = {(s["where"], s["mode"]): s for s in summarize_ab(rows, ("base", "head"))}
    comp = summary[("composed", "recommend")]
    assert comp["base_p50_ms"] == 11.0 and comp["head_p50_ms"] == 12.0  # a median: the 30 ms outlier is ignored
    assert comp["p50_ratio"] == pytest.approx(12 / 11) and comp["head_errors"] == 3 and comp["base_rounds"] == 3
    assert "p50_ratio" not in summary[("composed", "text-new")] and "base_p50_ms" not in summary[("composed", "text-new")]
    assert list(summary)[0] == ("in-process", "recommend")


def test_a_directory_without_the_package_is_a_one_line_error(tmp_path, capsys) -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("serve_ab_cli", Path(__file__).parents[2] / "bench" / "serve_ab.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(["--base", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path}: no platform/crossrec here (give a crossrec checkout)"
