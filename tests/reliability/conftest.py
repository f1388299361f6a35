"""Fixtures of the reliability tests: the tiny synthetic dataset and small training config of
bench/train_faults.py (one definition for the bench and the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.fixture(scope="module")
def fault_dataset(tmp_path_factory) -> Path:
    import train_faults

    return train_faults.make_dataset(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="session")
def small_train_config():
    """``small_train_config(dataset, storage, run_name, epochs, max_failures)`` -> a TrainConfig dict."""
    import train_faults

    return train_faults.train_config
