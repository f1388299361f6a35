"""Table-driven bad inputs: each gives ONE line naming the file and the field/row, through the library and
through the CLI (``crossrec.cli.main`` returns 2)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.cli import main
from crossrec.data.dataset import load_dataset
from crossrec.data.importers import ImportOptions, import_recbole
from crossrec.data.split import split_target
from crossrec.errors import CrossrecError


def _rewrite(path: Path, edit: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(edit(pq.read_table(path)), path)


def _set_column(name: str, array: pa.Array) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.set_column(t.column_names.index(name), name, array)


def _invalid_utf8_strings(values: list[bytes]) -> pa.Array:
    """A string array holding raw bytes that are not UTF-8 (pyarrow would refuse them otherwise)."""
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets.tobytes()),
                                                            pa.py_buffer(b"".join(values))])


INTER, ITEMS = "interactions.parquet", "items.parquet"

# name -> (corruption of a valid dataset dir, file named in the message, words the message must contain)
CANONICAL_CASES: dict[str, tuple[Callable[[Path], None], str, list[str]]] = {
    "missing column": (lambda d: _rewrite(d / INTER, lambda t: t.drop_columns(["timestamp"])), INTER,
                       ["missing column 'timestamp'"]),
    "wrong type": (lambda d: _rewrite(d / INTER, _set_column("timestamp", pa.array(["1", "2", "3", "4", "5", "6"]))),
                   INTER, ["column 'timestamp'", "type string"]),
    "float timestamps": (lambda d: _rewrite(d / INTER, _set_column("timestamp", pa.array([1.5] * 6))), INTER,
                         ["column 'timestamp'", "double"]),
    "null user id": (lambda d: _rewrite(d / INTER, _set_column("user_id", pa.array(["u1", None, "u1", "u2", "u2", "u3"]))),
                     INTER, ["column 'user_id'", "row 1", "null"]),
    "unknown item": (lambda d: _rewrite(d / INTER, _set_column("item_id", pa.array(["b1", "m1", "zz", "m2", "b3", "m1"]))),
                     INTER, ["column 'item_id'", "row 2", "'zz'", "unknown item"]),
    "duplicate item id": (lambda d: _rewrite(d / ITEMS, _set_column("item_id", pa.array(["b1", "b2", "b1", "m1", "m2"]))),
                          ITEMS, ["column 'item_id'", "row 2", "duplicate id 'b1'", "first at row 0"]),
    "empty file": (lambda d: (d / ITEMS).write_bytes(b""), ITEMS, ["empty file"]),
    "no rows": (lambda d: _rewrite(d / ITEMS, lambda t: t.slice(0, 0)), ITEMS, ["no rows"]),
    "truncated parquet": (lambda d: (d / INTER).write_bytes((d / INTER).read_bytes()[:200]), INTER,
                          ["not a readable Parquet file"]),
    "non-UTF-8 text": (lambda d: _rewrite(d / ITEMS, _set_column("text", _invalid_utf8_strings(
        [b"ok", b"Caf\xe9", b"x", b"y", b"z"]))), ITEMS, ["column 'text'", "row 1", "UTF-8"]),
    "domain disagrees with item": (lambda d: _rewrite(d / INTER, _set_column("domain", pa.array(
        ["books", "music", "books", "music", "music", "music"]))), INTER, ["column 'domain'", "row 4"]),
    "missing dataset.json": (lambda d: (d / "dataset.json").unlink(), "dataset.json", ["file not found"]),
}


def _one_line(message: str, file: str, words: list[str]) -> None:
    assert "\n" not in message.strip(), message
    assert file in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", list(CANONICAL_CASES))
def test_bad_canonical_dataset(case: str, tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt, file, words = CANONICAL_CASES[case]
    corrupt(tiny_dir)
    with pytest.raises(CrossrecError) as err:
        load_dataset(tiny_dir)
    _one_line(str(err.value), file, words)
    assert main(["data", "stats", str(tiny_dir)]) == 2
    _one_line(capsys.readouterr().err, file, words)


# Raw RecBole files: (edit of the .inter text, words). The file named is always tiny.inter.
RECBOLE_CASES: dict[str, tuple[Callable[[bytes], bytes], list[str]]] = {
    "non-UTF-8 line": (lambda b: b.replace(b"Sabrina", b"Sabr\xedna"), ["line 5", "not valid UTF-8"]),
    "missing field": (lambda b: b.replace(b"timestamp:float", b"time:float"), ["missing field 'timestamp'"]),
    "bad rating": (lambda b: b.replace(b"\t4\t50", b"\tfour\t50"), ["field 'rating'", "line 5", "'four'"]),
    "wrong field count": (lambda b: b.replace(b"\t2\t60", b"\t2\t60\textra"), ["line 6", "expected 4"]),
    "bad header": (lambda b: b.replace(b"rating:float", b"rating"), ["line 1", "'rating'", "field:type"]),
    "empty id": (lambda b: b.replace(b"u3\tCasino", b"\tCasino"), ["field 'user_id'", "line 8", "empty id"]),
    "empty file": (lambda b: b"", ["empty file"]),
}


@pytest.mark.parametrize("case", list(RECBOLE_CASES))
def test_bad_recbole_files(case: str, fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "tiny"
    shutil.copytree(fixtures / "recbole" / "tiny", src)
    edit, words = RECBOLE_CASES[case]
    (src / "tiny.inter").write_bytes(edit((src / "tiny.inter").read_bytes()))
    with pytest.raises(CrossrecError) as err:
        import_recbole(src, ImportOptions(domains="movielens_genre_groups"))
    _one_line(str(err.value), "tiny.inter", words)
    assert main(["data", "import", "--format", "recbole", str(src), "--out", str(tmp_path / "out")]) == 2
    _one_line(capsys.readouterr().err, "tiny.inter", words)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_unknown_target_domain(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CrossrecError, match=r"unknown target domain 'films'.*known domains: books, music"):
        split_target(load_dataset(tiny_dir), "films")
    assert main(["data", "split", str(tiny_dir), "--target", "films", "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys.readouterr().err, "'films'", ["books, music"])


def test_unknown_mapping_and_format(fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = str(fixtures / "recbole" / "tiny")
    assert main(["data", "import", "--format", "recbole", src, "--out", str(tmp_path / "o"), "--domains", "nope"]) == 2
    _one_line(capsys.readouterr().err, "'nope'", ["movielens_genre_groups"])
    assert main(["data", "import", "--format", "csv", src, "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys.readouterr().err, "--format", ["'csv'", "recbole"])
    assert main(["data", "import", "--format", "recbole", src, "--out", str(tmp_path / "o"),
                 "--text-fields", "movie_title,plot"]) == 2
    _one_line(capsys.readouterr().err, "tiny.item", ["text field 'plot'"])
