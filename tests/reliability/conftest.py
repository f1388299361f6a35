"""Fixtures of the reliability tests: the tiny synthetic dataset and small training config of
bench/train_faults.py, from :mod:`crossrec.benchmarks.train_faults` (one definition for the bench and the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def fault_dataset(tmp_path_factory) -> Path:
    from crossrec.benchmarks import train_faults

    return train_faults.make_dataset(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="session")
def small_train_config():
    """``small_train_config(dataset, storage, run_name, epochs, max_failures)`` -> a TrainConfig dict."""
    from crossrec.benchmarks import train_faults

    return train_faults.train_config
