"""Domain assignment as data: a YAML/JSON mapping from item labels (genres, categories) to domains.

A mapping file looks like (``configs/domains/movielens_genre_groups.yaml``)::

    field: [genre, class, genres]   # item columns that may hold the labels; the first present is used
    default: drama                  # domain of items that match no group
    groups:                         # ORDER MATTERS: the first listed group sharing a label wins
      family: [Animation, "Children's", Musical, Fantasy]
      thriller: [Horror, Thriller, Mystery, Film-Noir, Crime]

A mapping is named by a file path or by the name of a shipped mapping (:func:`shipped_mappings`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from crossrec.config import StrictModel
from crossrec.errors import ConfigError, DataValidationError


class DomainMappingConfig(StrictModel):
    """Labels -> domain; the first group (in file order) that shares a label with the item wins."""

    field: list[str] = Field(..., min_length=1, description="Candidate item columns holding the labels.")
    separator: str | None = Field(None, description="Separator of string-valued labels; None = whitespace.")
    default: str = Field(..., min_length=1, description="Domain of items that match no group.")
    groups: dict[str, list[str]] = Field(..., min_length=1, description="Ordered domain -> labels.")

    @field_validator("field", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def label_column(self, columns: list[str], source: str) -> str:
        """The first candidate field present in ``columns``."""
        for name in self.field:
            if name in columns:
                return name
        raise DataValidationError(
            f"{source}: none of the domain mapping's label fields {self.field} is a column (has {', '.join(columns)})"
        )

    def assign(self, labels: pd.Series) -> np.ndarray:
        """Domain per item.

        Args:
            labels: (N,) per item, a list of labels or a separator-joined string (null = no label).
        Returns:
            (N,) object array of domain names.
        """
        exploded = split_labels(labels, self.separator).explode()
        rank = {label: i for i, (_, group) in reversed(list(enumerate(self.groups.items()))) for label in group}
        hit = exploded.map(rank)  # NaN where the label is in no group
        best = hit.groupby(level=0).min().reindex(range(len(labels)))
        names = np.array([*self.groups, self.default], dtype=object)
        return names[best.fillna(len(self.groups)).to_numpy(dtype=np.int64)]


def _to_list(value: object, separator: str | None) -> list[str]:
    if isinstance(value, str):
        return value.split(separator)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [str(v) for v in value]  # list / numpy array (Parquet list column)


def split_labels(labels: pd.Series, separator: str | None = None) -> pd.Series:
    """(N,) object Series of label lists (index 0..N-1) from lists or separator-joined strings (per item)."""
    return pd.Series([_to_list(v, separator) for v in labels.to_numpy(dtype=object)], dtype=object)


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped in ``crossrec/configs/domains``."""
    folder = resources.files("crossrec") / "configs" / "domains"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_domain_mapping(spec: str | Path) -> DomainMappingConfig:
    """Load a mapping from a YAML/JSON path, or by the name of a shipped mapping."""
    path = Path(spec)
    if path.is_file():
        return DomainMappingConfig.from_yaml(path)
    shipped = shipped_mappings()
    if str(spec) in shipped:
        ref = resources.files("crossrec") / "configs" / "domains" / f"{spec}.yaml"
        with resources.as_file(ref) as real:
            return DomainMappingConfig.from_yaml(real)
    raise ConfigError(f"domain mapping {str(spec)!r}: no such file, nor a shipped mapping (shipped: {', '.join(shipped)})")
