"""``crossrec evaluate --bundle B --data D --target T``: test metrics of a bundle per BENCHMARK.md."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        bundle: Path = typer.Option(..., "--bundle", "-b", help="Model bundle directory."),
        data: Path = typer.Option(..., "--data", "-d", help="Canonical dataset directory."),
        target: str = typer.Option(..., "--target", "-t", help="Target domain."),
        role: str = typer.Option("test", "--role", help="test | valid"),
        out: Path = typer.Option(None, "--out", help="Write per-user top-k predictions as JSONL."),
        json_out: Path = typer.Option(None, "--json", help="Write the metrics as JSON."),
        top_k: int = typer.Option(10, "--top-k", help="Items per user in --out."),
        explain: bool = typer.Option(False, "--explain", help="Add `because` to --out: per item, the history "
                                     "items that pushed its score up most (exact leave-one-out)."),
        explain_n: int = typer.Option(3, "--explain-n", help="History items per recommended item with --explain (1-10)."),
    ) -> None:
        """Score every target item for each held-out user; print overall and per-slice metrics."""
        from crossrec.errors import ConfigError
        from crossrec.eval.bundle_eval import evaluate_bundle
        from crossrec.utils.io import atomic_write_text

        if role not in ("test", "valid"):
            raise ConfigError(f"--role must be 'test' or 'valid', got {role!r}")
        if explain and out is None:
            raise ConfigError("--explain writes explanations into the predictions: give --out too")
        if explain and not 1 <= explain_n <= 10:
            raise ConfigError(f"--explain-n must be between 1 and 10, got {explain_n}")
        report = evaluate_bundle(bundle, data, target, role=role, predictions_out=out, top_k=top_k,
                                 explain_n=explain_n if explain else None)
        typer.echo(report.to_table_text())
        if json_out:
            atomic_write_text(json_out, report.to_json())
            typer.echo(f"metrics: {json_out}")
        if out:
            typer.echo(f"predictions: {out}")
