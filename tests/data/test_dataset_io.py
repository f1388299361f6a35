"""Canonical dataset directory: round trip, dtypes, nullable ratings, atomic writes, no torch/ray imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crossrec.data.dataset import load_dataset, save_dataset


def test_round_trip_keeps_schema_and_extras(tiny, tiny_dir: Path) -> None:
    back = load_dataset(tiny_dir)
    pd.testing.assert_frame_equal(back.interactions, tiny.interactions)
    assert back.items["year"].tolist() == [2001, 2002, 2003, 1999, 1998]  # extra item column kept
    schema = pq.read_schema(tiny_dir / "interactions.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        ("user_id", "string"), ("item_id", "string"), ("domain", "string"), ("timestamp", "int64"),
        ("rating", "float")]
    assert pq.read_table(tiny_dir / "interactions.parquet").column("rating").null_count == 1  # NaN -> null
    assert np.isnan(back.interactions["rating"].iloc[1])


def test_dataset_json(tiny_dir: Path) -> None:
    meta = json.loads((tiny_dir / "dataset.json").read_text())
    assert meta["name"] == "tiny" and meta["domains"] == ["books", "music"]
    assert meta["counts"]["interactions"] == 6 and meta["counts"]["users"] == 3
    assert meta["counts"]["per_domain"]["music"] == {"interactions": 3, "users": 3, "items": 2}


def test_failed_write_leaves_previous_dataset(tiny, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(tiny, tiny_dir)
    monkeypatch.undo()
    assert load_dataset(tiny_dir).counts()["interactions"] == 6
    assert sorted(p.name for p in tiny_dir.parent.iterdir()) == ["tiny"]  # no temporary left over


def test_data_package_imports_neither_torch_nor_ray() -> None:
    code = ("import sys, crossrec.data, crossrec.data.importers, crossrec.data.stats; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
