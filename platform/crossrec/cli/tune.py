"""``crossrec tune --config SWEEP.yaml``: a Ray Tune sweep of fusion/head hyper-parameters."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune_cmd(
        config: Path = typer.Option(..., "--config", "-c", help="Sweep YAML (see jobs/configs/sweep_local.yaml)."),
        address: str = typer.Option(None, "--address", help="Ray cluster address; default: embedded local Ray."),
    ) -> None:
        """Run (or resume) a sweep; writes results.csv, best_config.yaml and sweep.png."""
        from crossrec.tune.config import SweepConfig
        from crossrec.tune.run import run_sweep

        result = run_sweep(SweepConfig.from_yaml(config), address=address)
        typer.echo(f"sweep dir: {result.dir}\nbest config: {result.best_config_path}")
