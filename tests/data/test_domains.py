"""Domain mappings: the shipped MovieLens grouping equals BENCHMARK.md, first listed group wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.data.domains import DomainMappingConfig, load_domain_mapping, shipped_mappings
from crossrec.errors import ConfigError

# BENCHMARK.md, "Domains from MovieLens-1M": domain -> genres, in priority order.
BENCHMARK_GROUPS = {
    "family": ["Animation", "Children's", "Musical", "Fantasy"],
    "thriller": ["Horror", "Thriller", "Mystery", "Film-Noir", "Crime"],
    "action": ["Action", "Adventure", "Sci-Fi", "War", "Western"],
    "comedy": ["Comedy", "Romance"],
    "drama": ["Drama", "Documentary"],
}


def test_shipped_mapping_reproduces_benchmark_groups() -> None:
    mapping = load_domain_mapping("movielens_genre_groups")
    assert list(mapping.groups) == list(BENCHMARK_GROUPS)  # order = priority
    assert mapping.groups == BENCHMARK_GROUPS
    assert mapping.default == "drama"  # "and anything left"
    assert "movielens_genre_groups" in shipped_mappings()


def test_shipped_mapping_matches_benchmark_table_when_available() -> None:
    bench = Path(__file__).resolve().parents[2].parent / "shared" / "BENCHMARK.md"
    if not bench.is_file():
        pytest.skip("../shared/BENCHMARK.md not present")
    rows = [line.split("|")[1:3] for line in bench.read_text().splitlines() if line.startswith("| ")]
    table = {d.strip(): g.split("(")[0].strip() for d, g in rows if d.strip() in BENCHMARK_GROUPS}
    mapping = load_domain_mapping("movielens_genre_groups")
    assert {d: ", ".join(g) for d, g in mapping.groups.items()} == table


@pytest.mark.parametrize(("genres", "domain"), [
    ("Animation Children's Comedy", "family"),
    ("Action Crime Thriller", "thriller"),  # thriller is listed before action
    ("Comedy Fantasy", "family"),            # family is listed first of all
    ("Action Romance", "action"),
    ("Romance Drama", "comedy"),
    ("Documentary", "drama"),
    ("unknown", "drama"),                    # no group: default
    ("", "drama"),
])
def test_first_listed_group_wins(genres: str, domain: str) -> None:
    mapping = load_domain_mapping("movielens_genre_groups")
    assert mapping.assign(pd.Series([genres]))[0] == domain


def test_assign_takes_lists_strings_and_nulls() -> None:
    mapping = DomainMappingConfig(field="tags", separator="|", default="rest", groups={"a": ["x"], "b": ["y", "x"]})
    got = mapping.assign(pd.Series([["y"], "q|x", None, np.array(["y", "x"])]))
    assert got.tolist() == ["b", "a", "rest", "a"]


def test_mapping_by_path_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("field: cat\ndefault: other\ngroups:\n  toys: [Lego]\n")
    assert load_domain_mapping(path).groups == {"toys": ["Lego"]}
    with pytest.raises(ConfigError, match="shipped: .*movielens_genre_groups"):
        load_domain_mapping("no_such_mapping")
    path.write_text("field: cat\ndefault: other\ngroups:\n  toys: [Lego]\ntypo: 1\n")
    with pytest.raises(ConfigError, match="typo"):
        load_domain_mapping(path)
