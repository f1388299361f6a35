"""``crossrec submit JOB --config C --address URL``: run a job on a Ray cluster through the Job API."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("submit")
    def submit_cmd(
        job: str = typer.Argument(..., help="train | tune | evaluate | embed | batch-recommend"),
        config: Path = typer.Option(..., "--config", "-c", help="The job's config YAML."),
        address: str = typer.Option("http://127.0.0.1:8265", "--address", help="Ray dashboard / Job API address."),
        working_dir: Path = typer.Option(Path("."), "--working-dir", help="Uploaded as the job's working dir."),
        wait: bool = typer.Option(True, "--wait/--no-wait", help="Stream logs until the job ends."),
    ) -> None:
        """Exit code 0 when the job SUCCEEDED, 1 otherwise."""
        from crossrec.ops.submit import submit_job

        result = submit_job(job, config, address, working_dir=working_dir, wait=wait)
        typer.echo(f"job {result.job_id}: {result.status}")
        if wait and not result.ok:
            raise typer.Exit(1)
