"""Item text specs: head, (parenthesised), Label: values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossrec.data.text import TextField, build_item_text, parse_text_fields
from crossrec.errors import DataValidationError


def test_parse() -> None:
    assert parse_text_fields(["title", "(year)", "genre:Genres", " plot "]) == [
        TextField("title", "plain"), TextField("year", "paren"), TextField("genre", "labelled", "Genres"),
        TextField("plot", "plain")]


def test_render_lists_years_and_missing_values() -> None:
    items = pd.DataFrame({
        "title": ["Toy Story", "Heat", None],
        "year": [1995.0, np.nan, 2001.0],
        "genre": [["Animation", "Children's", "Comedy"], [], np.array(["Drama"])],
        "plot": ["Toys.", "", "x"],
    })
    text = build_item_text(items, parse_text_fields(["title", "(year)", "genre:Genres", "plot"]), "items")
    assert text.tolist() == [
        "Toy Story (1995). Genres: Animation, Children's, Comedy. Toys.",
        "Heat",
        "(2001). Genres: Drama. x",
    ]


def test_unknown_field_names_the_file() -> None:
    with pytest.raises(DataValidationError, match="items.csv: text field 'plot' is not a column"):
        build_item_text(pd.DataFrame({"title": ["a"]}), parse_text_fields(["plot"]), "items.csv")
