"""Shared fixtures for training tests: a tiny synthetic dataset on disk and its split."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossrec.data.dataset import save_dataset
from crossrec.data.split import split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

TARGET = "movies"


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory) -> Path:
    ds = generate_synthetic(SyntheticConfig(n_users=120, n_items=24, n_topics=4, max_interactions=30, seed=3))
    return save_dataset(ds, tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="session")
def tiny_split(tiny_dataset_dir):
    from crossrec.data.dataset import load_dataset

    return split_target(load_dataset(tiny_dataset_dir), TARGET)


@pytest.fixture(scope="session")
def train_config_dict():
    """``train_config_dict(dataset, storage, **{"optim.epochs": 3})`` -> a small TrainConfig dict."""
    return _tiny_train_config


def _tiny_train_config(dataset: Path, storage: Path, **overrides) -> dict:
    """A TrainConfig dict small enough for a CPU test (ID-only heads unless overridden)."""
    cfg = {
        "run_name": "tiny",
        "dataset": str(dataset),
        "targets": [TARGET],
        "storage_path": str(storage),
        "seed": 0,
        "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 12, "dropout": 0.1,
                            "use_text": False},
                  "fusion": {"variant": "gate", "hidden": 16}},
        "optim": {"epochs": 2, "batch_size": 32, "lr": 0.005, "patience": None},
        "scaling": {"num_workers": 1, "cpus_per_worker": 1},
        "checkpoint": {"keep_best": 1, "max_failures": 0},
    }
    for key, value in overrides.items():
        section, _, leaf = key.partition(".")
        if leaf:
            cfg.setdefault(section, {})
            if isinstance(cfg[section], dict):
                cfg[section][leaf] = value
        else:
            cfg[section] = value
    return cfg
