"""Loading the dataset and the benchmark split of a target domain (shared by train, tune and evaluate)."""

from __future__ import annotations

from crossrec.data.dataset import load_dataset
from crossrec.data.split import TargetSplit, split_target


def load_split_for(dataset: str, target: str) -> TargetSplit:
    """Load a canonical dataset directory and split it for ``target`` per BENCHMARK.md."""
    return split_target(load_dataset(dataset), target)
