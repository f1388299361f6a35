"""Item text from configurable item fields, e.g. ``Toy Story (1995). Genres: Animation, Children's, Comedy``.

A text spec is a list of entries, rendered in order:

- ``column`` first entry: the head (``Toy Story``); later entries: a sentence ``. value``;
- ``(column)``: appended to the head in parentheses (``(1995)``);
- ``column:Label``: a labelled sentence ``. Label: value``.

List values are joined with ``", "``; whole floats print as integers (``1995.0`` -> ``1995``); empty or
null values drop their segment. ``["movie_title", "(release_year)", "genre:Genres"]`` gives the example above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossrec.errors import DataValidationError


@dataclass(frozen=True)
class TextField:
    column: str
    style: str  # "plain" | "paren" | "labelled"
    label: str = ""


def parse_text_fields(entries: list[str]) -> list[TextField]:
    """Parse ``["title", "(year)", "genres:Genres"]`` into :class:`TextField` entries."""
    fields = []
    for raw in entries:
        entry = raw.strip()
        if entry.startswith("(") and entry.endswith(")") and len(entry) > 2:
            fields.append(TextField(entry[1:-1], "paren"))
        elif ":" in entry:
            column, label = entry.split(":", 1)
            fields.append(TextField(column.strip(), "labelled", label.strip()))
        elif entry:
            fields.append(TextField(entry, "plain"))
    if not fields:
        raise DataValidationError("--text-fields: no field given")
    return fields


def render_values(values: pd.Series) -> pd.Series:
    """(N,) str Series: lists joined by ', ', whole floats as integers, null -> ''."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values % 1 == 0)
        out = values.astype(str).where(~whole, values.where(whole, 0).astype(np.int64).astype(str))
        return out.where(values.notna(), "").astype(str)
    arr = values.to_numpy(dtype=object)
    if values.dtype == object:  # lists (or arrays read back from Parquet) are joined
        arr = np.array([", ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v for v in arr],
                       dtype=object)
    return pd.Series(arr, index=values.index).fillna("").astype(str)


def build_item_text(items: pd.DataFrame, fields: list[TextField], source: str) -> pd.Series:
    """(N,) str Series of item texts; ``source`` names the item file in errors."""
    for f in fields:
        if f.column not in items.columns:
            raise DataValidationError(
                f"{source}: text field {f.column!r} is not a column (has {', '.join(map(str, items.columns))})"
            )
    text = pd.Series("", index=items.index, dtype=object)
    for i, f in enumerate(fields):
        value = render_values(items[f.column]).str.strip()
        present = value != ""
        if f.style == "paren":
            part = " (" + value + ")"
        elif f.style == "labelled":
            part = ". " + f.label + ": " + value
        else:
            part = value if i == 0 else ". " + value
        text = text + part.where(present, "")
    return text.str.removeprefix(". ").str.strip().astype("str")
