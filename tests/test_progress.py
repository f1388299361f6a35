"""Progress lines: a rate and an ETA, whole lines only (they must read well in `ray job logs`)."""

from __future__ import annotations

import re
from pathlib import Path

import crossrec
from crossrec.utils.progress import Progress, format_seconds


def test_lines_carry_rate_and_eta_and_end_with_a_summary() -> None:
    lines: list[str] = []
    bar = Progress("embedding item text", 1000, every_s=0.0, write=lines.append)
    for done in (250, 500, 1000):
        bar.update(done)
    bar.close()
    bar.close()  # once only
    assert len(lines) == 3  # 250, 500 (1000 = done: the summary says it)
    assert re.fullmatch(r"embedding item text: 250/1,000 items \(25%\), [\d,]+ items/s, ETA \w+", lines[0])
    assert re.fullmatch(r"embedding item text: 1,000 items in \w+ \([\d,]+ items/s\)", lines[-1])
    assert not any("\r" in line for line in lines)


def test_lines_are_throttled_and_can_be_silenced() -> None:
    lines: list[str] = []
    bar = Progress("x", 10, every_s=3600, write=lines.append)
    for _ in range(10):
        bar.advance()
    bar.close()
    assert lines == [lines[-1]] and lines[-1].startswith("x: 10 items in")
    quiet: list[str] = []
    with Progress("y", 5, enabled=False, write=quiet.append) as q:
        q.update(5)
    assert quiet == [] and q.done == 5


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_no_carriage_return_spinners_in_the_package() -> None:
    root = Path(crossrec.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if re.search(r"print\(f?[\"']\\r", p.read_text(encoding="utf-8"))]
    assert offenders == []
