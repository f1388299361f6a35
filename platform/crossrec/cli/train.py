"""``crossrec train --config CONFIG.yaml``: fit adapters + heads per target domain on Ray Train."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: Path = typer.Option(..., "--config", "-c", help="Training config YAML (see jobs/configs/)."),
        address: str = typer.Option(None, "--address", help="Ray cluster address; default: embedded local Ray."),
        run_name: str = typer.Option(None, "--run-name", help="Override run_name (re-use one to resume)."),
        epochs: int = typer.Option(None, "--epochs", help="Override optim.epochs."),
    ) -> None:
        """Fine-tune one LoRA adapter + heads per target domain; writes a bundle and metrics.json."""
        from crossrec.train.config import TrainConfig
        from crossrec.train.run import run_training

        cfg = TrainConfig.from_yaml(config)
        overrides = {}
        if run_name:
            overrides["run_name"] = run_name
        if epochs is not None:
            overrides["optim"] = {**cfg.optim.model_dump(), "epochs": epochs}
        if overrides:
            cfg = TrainConfig.from_dict({**cfg.model_dump(), **overrides}, source=str(config))
        result = run_training(cfg, address=address)
        typer.echo(f"run dir: {result.run_dir}\nbundle:  {result.bundle_dir}")
