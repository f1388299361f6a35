"""Canonical multi-domain datasets: schema, importers, synthetic generator and the benchmark split.

pandas / pyarrow / NumPy only (never torch or ray). See docs/architecture.md for the contracts.
"""

from crossrec.data.dataset import Dataset, load_dataset, make_dataset, save_dataset
from crossrec.data.domains import DomainMappingConfig, load_domain_mapping, shipped_mappings
from crossrec.data.sequences import ItemIndex, UserSequences
from crossrec.data.split import TargetSplit, load_split, split_target
from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

__all__ = [
    "Dataset",
    "DomainMappingConfig",
    "ItemIndex",
    "SyntheticConfig",
    "TargetSplit",
    "UserSequences",
    "generate_synthetic",
    "load_dataset",
    "load_domain_mapping",
    "load_split",
    "make_dataset",
    "save_dataset",
    "shipped_mappings",
    "split_target",
]
