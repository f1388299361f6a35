"""``crossrec serve --bundle B``: the Serve graph on an embedded local Ray (CPU)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        bundle: Path = typer.Option(..., "--bundle", "-b", help="Model bundle directory."),
        port: int = typer.Option(8000, "--port", help="HTTP port on 127.0.0.1."),
        no_batching: bool = typer.Option(False, "--no-batching", help="Disable @serve.batch in the Ingress."),
        metrics_port: int = typer.Option(8080, "--metrics-port", help="Prometheus metrics port (0: none)."),
    ) -> None:
        """Serve POST /recommend, /recommend/batch, GET /healthz, /domains, /docs until Ctrl-C."""
        from crossrec.errors import BundleError
        from crossrec.serve.app import run_local

        if not (bundle / "bundle.json").is_file():
            raise BundleError(f"{bundle}: not a crossrec bundle (bundle.json missing)")
        run_local(bundle, port=port, blocking=True, batching=not no_batching, metrics_port=metrics_port or None)
