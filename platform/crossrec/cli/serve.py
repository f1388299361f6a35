"""``crossrec serve --bundle B [--layout composed|fused]``: the Serve app on an embedded local Ray (CPU)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        bundle: Path = typer.Option(..., "--bundle", "-b", help="Model bundle directory."),
        port: int = typer.Option(8000, "--port", help="HTTP port on 127.0.0.1."),
        layout: str = typer.Option("composed", "--layout", help="composed: Ingress → Encoder → Fusion → Ranker "
                                   "deployments; fused: one deployment running the whole pipeline."),
        direct_ingress: bool = typer.Option(False, "--direct-ingress", help="Ray Serve's throughput-optimised mode: "
                                            "the entry replica listens on its own port (PORT+1 up), skipping the "
                                            "proxy hop (a load balancer in front for several replicas)."),
        no_batching: bool = typer.Option(False, "--no-batching", help="Disable @serve.batch in the Ingress."),
        metrics_port: int = typer.Option(8080, "--metrics-port", help="Prometheus metrics port (0: none)."),
    ) -> None:
        """Serve POST /recommend, /recommend/batch, GET /healthz, /domains, /docs until Ctrl-C."""
        from crossrec.errors import BundleError
        from crossrec.serve.app import ServeAppConfig, run_local

        if not (bundle / "bundle.json").is_file():
            raise BundleError(f"{bundle}: not a crossrec bundle (bundle.json missing)")
        args = ServeAppConfig.from_dict({"bundle": str(bundle), "layout": layout, "batching": not no_batching},
                                        source="crossrec serve options")  # a bad --layout: one-line ConfigError
        run_local(bundle, port=port, blocking=True, layout=args.layout, batching=args.batching,
                  metrics_port=metrics_port or None, direct_ingress=direct_ingress)
