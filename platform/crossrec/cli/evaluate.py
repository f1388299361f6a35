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
    ) -> None:
        """Score every target item for each held-out user; print overall and per-slice metrics."""
        from crossrec.errors import ConfigError
        from crossrec.eval.bundle_eval import evaluate_bundle
        from crossrec.utils.io import atomic_write_text

        if role not in ("test", "valid"):
            raise ConfigError(f"--role must be 'test' or 'valid', got {role!r}")
        report = evaluate_bundle(bundle, data, target, role=role, predictions_out=out, top_k=top_k)
        typer.echo(report.to_table_text())
        if json_out:
            atomic_write_text(json_out, report.to_json())
            typer.echo(f"metrics: {json_out}")
        if out:
            typer.echo(f"predictions: {out}")
