"""Options shared by every importer, and the last step they share: domains + item text -> a Dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crossrec.data.dataset import Dataset, make_dataset
from crossrec.data.domains import DomainMappingConfig, load_domain_mapping
from crossrec.data.text import build_item_text, parse_text_fields
from crossrec.errors import ConfigError, DataValidationError


@dataclass
class ImportOptions:
    """How an importer assigns domains and builds item text.

    Attributes:
        name: dataset name (default: the source's name).
        domains: a domain mapping (path, shipped name or object) applied to the item labels.
        domain_column: use this existing item column as the domain (exclusive with ``domains``).
        default_domain: domain of every item when neither is given and the format has none.
        text_fields: text spec entries (see :mod:`crossrec.data.text`); None = the importer's default.
        keep_unused_items: keep catalogue items without any interaction.
    """

    name: str | None = None
    domains: str | Path | DomainMappingConfig | None = None
    domain_column: str | None = None
    default_domain: str = "all"
    text_fields: list[str] | None = None
    keep_unused_items: bool = False
    extra_source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domains is not None and self.domain_column is not None:
            raise ConfigError("give either a domain mapping (--domains) or a domain column (--domain-column), not both")

    def mapping(self) -> DomainMappingConfig | None:
        if self.domains is None or isinstance(self.domains, DomainMappingConfig):
            return self.domains
        return load_domain_mapping(self.domains)


def assign_item_domains(items: pd.DataFrame, opts: ImportOptions, items_source: str) -> pd.Series:
    """(N,) domain per item: mapping over labels, an existing column, an importer-given ``domain``, or default."""
    mapping = opts.mapping()
    if mapping is not None:
        column = mapping.label_column(list(map(str, items.columns)), items_source)
        return pd.Series(mapping.assign(items[column]), index=items.index)
    if opts.domain_column is not None:
        if opts.domain_column not in items.columns:
            raise DataValidationError(
                f"{items_source}: domain column {opts.domain_column!r} not found (has {', '.join(map(str, items.columns))})"
            )
        values = items[opts.domain_column]
        blank = values.isna() | (values.astype(str).str.strip() == "")
        if blank.any():
            row = int(blank.to_numpy().nonzero()[0][0])
            raise DataValidationError(f"{items_source}: domain column {opts.domain_column!r} row {row}: empty value")
        return values.astype(str)
    if "domain" in items.columns:
        return items["domain"]
    return pd.Series(opts.default_domain, index=items.index)


def assemble(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    opts: ImportOptions,
    default_name: str,
    default_text: list[str],
    source: dict[str, Any],
    where: tuple[str, str],
) -> Dataset:
    """Assign domains, build texts and validate.

    Args:
        interactions: user_id, item_id, timestamp (int64), rating (float, NaN = none).
        items: item_id + raw item fields (labels, title, ...).
        default_text: the importer's text spec, used when ``opts.text_fields`` is None.
        where: names of the interaction and item sources, for error messages.
    """
    items = items.copy()
    items["domain"] = assign_item_domains(items, opts, where[1])
    items["text"] = build_item_text(items, parse_text_fields(opts.text_fields or default_text), where[1])
    src = {**source, "text_fields": opts.text_fields or default_text, **opts.extra_source}
    if opts.domains is not None:
        src["domains"] = opts.domains.model_dump() if isinstance(opts.domains, DomainMappingConfig) else str(opts.domains)
    if opts.domain_column is not None:
        src["domain_column"] = opts.domain_column
    return make_dataset(opts.name or default_name, interactions, items, source=src,
                        keep_unused_items=opts.keep_unused_items, where=where)


def first_present(columns: list[str], candidates: list[str]) -> str | None:
    """The first of ``candidates`` that is in ``columns``."""
    return next((c for c in candidates if c in columns), None)
