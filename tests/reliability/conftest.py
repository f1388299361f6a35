"""Fixtures of the reliability tests: a tiny synthetic dataset and a small training config builder."""

from __future__ import annotations

from pathlib import Path

import pytest

TARGET = "movies"


@pytest.fixture(scope="module")
def fault_dataset(tmp_path_factory) -> Path:
    from crossrec.data.dataset import save_dataset
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    ds = generate_synthetic(SyntheticConfig(n_users=120, n_items=24, domains=["books", TARGET], n_topics=4,
                                            max_interactions=30, seed=3))
    return save_dataset(ds, tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="session")
def small_train_config():
    """``small_train_config(dataset, storage, run_name, epochs, max_failures)`` -> a TrainConfig dict."""
    return _small_train_config


def _small_train_config(dataset: Path, storage: Path, run_name: str, epochs: int, max_failures: int) -> dict:
    """ID-only heads (no backbone), 1 worker, no early stopping: a few seconds per epoch on one core."""
    return {
        "run_name": run_name, "dataset": str(dataset), "targets": [TARGET], "storage_path": str(storage), "seed": 0,
        "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 12, "dropout": 0.1,
                            "use_text": False}, "fusion": {"variant": "gate", "hidden": 16}},
        "optim": {"epochs": epochs, "batch_size": 32, "lr": 0.005, "patience": None},
        "scaling": {"num_workers": 1, "cpus_per_worker": 1, "torch_threads": 1},
        "checkpoint": {"keep_best": 1, "max_failures": max_failures},
    }
