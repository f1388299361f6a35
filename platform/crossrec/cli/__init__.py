"""The ``crossrec`` command: one Typer app with a sub-app or command per area.

Each area lives in its own module (``crossrec.cli.data`` …) exposing ``register(app)``; this file imports
each of them explicitly and composes them from the :data:`AREAS` registry.
User errors (:class:`crossrec.errors.CrossrecError`) print one line ``error: ...`` and exit with code 2.
"""

from __future__ import annotations

import sys

import typer

from crossrec.cli import catalogue as catalogue_cli
from crossrec.cli import data as data_cli
from crossrec.cli import evaluate as evaluate_cli
from crossrec.cli import quickstart as quickstart_cli
from crossrec.cli import serve as serve_cli
from crossrec.cli import submit as submit_cli
from crossrec.cli import train as train_cli
from crossrec.cli import tune as tune_cli
from crossrec.errors import CrossrecError

app = typer.Typer(
    name="crossrec",
    help="Train, tune, evaluate and serve LLM-based cross-domain recommenders on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# The explicit registry: every area module, in registration order.
# Area modules import only typer/rich at module level and defer heavy imports (ray, torch, pydantic
# configs) into their command functions, so importing them all here keeps ``crossrec --help`` cheap.
# A missing area module is an ImportError at startup, never silently skipped.
AREAS = (
    data_cli,
    evaluate_cli,
    train_cli,
    tune_cli,
    serve_cli,
    catalogue_cli,
    quickstart_cli,
    submit_cli,
)

for _area in AREAS:
    _area.register(app)
del _area


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Returns the exit code (0 ok, 2 user error)."""
    try:
        app(args=argv, standalone_mode=False)
    except CrossrecError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        return 2
    except typer.Exit as err:
        return err.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as err:  # usage errors: typer >= 0.2x raises its own click copy's exceptions
        import click

        if isinstance(err, typer.TyperException | click.ClickException) and hasattr(err, "show"):
            err.show()
            return err.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
