"""``crossrec data ...`` end to end on the fixtures (and, opt-in, on ml-100k)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossrec.cli import main
from crossrec.data.dataset import load_dataset
from crossrec.data.split import load_split

SHARED_ML = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "movielens"


@pytest.mark.parametrize(("fmt", "src", "extra", "domains"), [
    ("recbole", "recbole/tiny", ["--domains", "movielens_genre_groups"], ["comedy", "drama", "family", "thriller"]),
    ("grouplens", "grouplens", ["--domains", "movielens_genre_groups"], ["action", "family", "thriller"]),
    ("amazon", "amazon", [], ["All_Beauty", "Books"]),
    ("table", "table/interactions.csv",
     ["--columns", "user_id=uid,item_id=iid,timestamp=when,rating=stars,domain=cat", "--items",
      "{fixtures}/table/items.csv", "--item-id-column", "product", "--text-fields", "title,brand:Brand"],
     ["garden", "kitchen"]),
])
def test_import_each_format(fmt: str, src: str, extra: list[str], domains: list[str], fixtures: Path,
                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    args = [a.format(fixtures=fixtures) for a in extra]
    assert main(["data", "import", "--format", fmt, str(fixtures / src), "--out", str(out), *args]) == 0
    assert "imported" in capsys.readouterr().out
    assert load_dataset(out).domains == domains


def test_stats_split_and_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "syn"
    assert main(["data", "synth", "--out", str(data), "--users", "60", "--domains", "books,music", "--seed", "2"]) == 0
    assert "60 users" in capsys.readouterr().out
    assert main(["data", "stats", str(data)]) == 0
    out = capsys.readouterr().out
    assert "books" in out and "music" in out and "users active in both domains" in out
    assert main(["data", "split", str(data), "--target", "music", "--out", str(tmp_path / "split")]) == 0
    out = capsys.readouterr().out
    split = load_split(tmp_path / "split")
    summary = split.summary()
    assert split.target == "music"
    for key in ("test_users", "cold", "cold_zero", "warm"):
        assert f"{summary[key]:,}" in out


@pytest.mark.skipif(not (SHARED_ML / "ml-1m").is_dir(), reason="../shared/data/movielens/ml-1m is absent")
def test_ml100k_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ml-100k"
    assert main(["data", "import", "--format", "recbole", str(SHARED_ML / "ml-100k"), "--domains",
                 "movielens_genre_groups", "--out", str(out)]) == 0
    assert "100,000 interactions, 943 users, 1,664 items, 5 domains" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.source["duplicate_item_rows_dropped"] == 18
    assert main(["data", "split", str(out), "--target", "family", "--out", str(tmp_path / "split")]) == 0
    assert load_split(tmp_path / "split").summary()["test_users"] == ds.counts()["per_domain"]["family"]["users"]
