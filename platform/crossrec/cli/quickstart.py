"""``crossrec quickstart``: synthetic data → split → baseline → train → tune → evaluate → serve."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("quickstart")
    def quickstart(
        out: Path = typer.Option(Path("outputs/quickstart"), "--out", help="Output directory."),
        target: str = typer.Option("movies", "--target", help="Target domain of the synthetic data."),
        users: int = typer.Option(400, "--users", min=20, help="Synthetic users."),
        epochs: int = typer.Option(None, "--epochs", min=1, help="Override the training epochs."),
        tune: bool = typer.Option(True, "--tune/--no-tune", help="Run the small Ray Tune sweep."),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the bundle and send requests."),
    ) -> None:
        """Run the end-to-end pipeline on an embedded local Ray (a few minutes on 2 CPUs)."""
        from crossrec.quickstart import run_quickstart

        run_quickstart(out=out, target=target, users=users, epochs=epochs, tune=tune, serve=serve)
