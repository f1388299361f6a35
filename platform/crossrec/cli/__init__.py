"""The ``crossrec`` command: one Typer app with a sub-app or command per area.

Each area lives in its own module (``crossrec.cli.data`` …) exposing ``register(app)``, so this file only
composes them.
User errors (:class:`crossrec.errors.CrossrecError`) print one line ``error: ...`` and exit with code 2.
"""

from __future__ import annotations

import sys

import typer

from crossrec.errors import CrossrecError

app = typer.Typer(
    name="crossrec",
    help="Train, tune, evaluate and serve LLM-based cross-domain recommenders on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    for name in ("data", "evaluate", "train", "tune", "serve", "quickstart", "submit", "bench"):
        try:
            module = __import__(f"crossrec.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as err:
            if err.name == f"crossrec.cli.{name}":
                continue  # that area is not installed in this build
            raise
        module.register(app)


_register()


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
    except Exception as err:  # click usage errors
        import click

        if isinstance(err, click.ClickException):
            err.show()
            return err.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
