"""The ``crossrec`` command: every area of the explicit registry is reachable; usage errors are one message."""

from __future__ import annotations

import pytest

from crossrec.cli import AREAS, app, main


def test_every_registered_area_adds_a_command(capsys) -> None:
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert len(AREAS) == 8
    assert {"data", "train", "tune", "serve", "catalogue", "evaluate", "quickstart", "submit"} <= names


@pytest.mark.parametrize("argv", [["nosuch"], ["train", "--no-such-flag"]])
def test_usage_errors_exit_2_without_a_traceback(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Error" in err and "Traceback" not in err
