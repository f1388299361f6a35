"""``crossrec data``: import raw datasets, describe them, split them for a target domain, generate synthetic data.

    crossrec data import --format recbole|grouplens|amazon|table SRC --out DIR [--domains MAPPING] [--text-fields ...]
    crossrec data stats DIR
    crossrec data split DIR --target T --out DIR
    crossrec data synth --out DIR [--users N --items N --domains a,b --topics K --seed S]
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from crossrec.errors import ConfigError

console = Console(soft_wrap=True)


def _csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _mapping(value: str | None, option: str) -> dict[str, str]:
    """``"a=x,b=y"`` -> {"a": "x", "b": "y"}."""
    out = {}
    for pair in _csv_list(value) or []:
        key, sep, val = pair.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ConfigError(f"{option}: expected FIELD=COLUMN pairs separated by commas, got {pair!r}")
        out[key.strip()] = val.strip()
    return out


def _counts_line(counts: dict) -> str:
    return (f"{counts['interactions']:,} interactions, {counts['users']:,} users, {counts['items']:,} items, "
            f"{counts['domains']} domains")


def import_cmd(
    src: Path = typer.Argument(..., help="Source file or directory."),
    fmt: str = typer.Option(..., "--format", "-f", help="recbole | grouplens | amazon | table"),
    out: str = typer.Option(..., "--out", "-o", help="Canonical dataset directory (or s3://… URI) to write."),
    domains: str = typer.Option(None, "--domains", help="Domain mapping: YAML/JSON path or shipped name."),
    domain_column: str = typer.Option(None, "--domain-column", help="Use this item column as the domain."),
    text_fields: str = typer.Option(None, "--text-fields", help="Comma-separated text spec: title,(year),genre:Genres"),
    name: str = typer.Option(None, "--name", help="Dataset name (default: the source's name)."),
    keep_unused_items: bool = typer.Option(False, "--keep-unused-items", help="Keep items without interactions."),
    columns: str = typer.Option(None, "--columns", help="table: user_id=COL,item_id=COL,timestamp=COL,..."),
    items: Path = typer.Option(None, "--items", help="table: item table (CSV/TSV/Parquet)."),
    item_id_column: str = typer.Option("item_id", "--item-id-column", help="table: id column of --items."),
) -> None:
    """Import a raw dataset into the canonical format (interactions.parquet, items.parquet, dataset.json)."""
    from crossrec.data.dataset import save_dataset
    from crossrec.data.importers import IMPORTERS, ImportOptions, TableLayout

    if fmt not in IMPORTERS:
        raise ConfigError(f"--format: unknown format {fmt!r} (expected {', '.join(IMPORTERS)})")
    if fmt != "table" and (columns or items):
        raise ConfigError("--columns/--items only apply to --format table")
    opts = ImportOptions(name=name, domains=domains, domain_column=domain_column,
                         text_fields=_csv_list(text_fields), keep_unused_items=keep_unused_items)
    start = time.perf_counter()
    with console.status(f"importing {src} ({fmt})"):
        if fmt == "table":
            layout = TableLayout(columns=_mapping(columns, "--columns"), items=items, item_id_column=item_id_column)
            ds = IMPORTERS[fmt](src, opts, layout)
        else:
            ds = IMPORTERS[fmt](src, opts)
    with console.status(f"writing {out}"):
        save_dataset(ds, out)
    console.print(f"imported {ds.name!r}: {_counts_line(ds.counts())} -> {out} "
                  f"({time.perf_counter() - start:.1f}s)")


def stats_cmd(path: Path = typer.Argument(..., help="Canonical dataset directory.")) -> None:
    """Users, items and interactions per domain, and user overlap across domains."""
    from crossrec.data.dataset import load_dataset
    from crossrec.data.stats import domain_table, user_overlap

    with console.status(f"loading {path}"):
        ds = load_dataset(path)
    sizes = Table(title=f"{ds.name}: domains")
    for col in ("domain", "users", "items", "interactions", "per user", "density"):
        sizes.add_column(col, justify="left" if col == "domain" else "right")
    for r in domain_table(ds).itertuples(index=False):
        sizes.add_row(r.domain, f"{r.users:,}", f"{r.items:,}", f"{r.interactions:,}", f"{r.per_user:.1f}",
                      f"{r.density:.4f}")
    console.print(sizes)
    overlap = user_overlap(ds)
    shared = Table(title="users active in both domains")
    shared.add_column("")
    for d in overlap.columns:
        shared.add_column(d, justify="right")
    for d, row in overlap.iterrows():
        shared.add_row(d, *(f"{v:,}" for v in row))
    console.print(shared)


def split_cmd(
    path: Path = typer.Argument(..., help="Canonical dataset directory."),
    target: str = typer.Option(..., "--target", "-t", help="Target domain."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write the split to."),
) -> None:
    """Split for a target domain (BENCHMARK.md) and print test users per slice."""
    from crossrec.data.dataset import load_dataset
    from crossrec.data.split import split_target
    from crossrec.errors import DataValidationError

    with console.status(f"loading {path}"):
        ds = load_dataset(path)
    with console.status(f"splitting for {target!r}"):
        try:
            split = split_target(ds, target)
        except DataValidationError as err:
            raise DataValidationError(f"{path}: --target: {err}") from None
        if split.examples.empty:
            raise DataValidationError(f"{path}: --target: target domain {target!r} has no interactions "
                                      f"(only catalogue items); nothing to hold out")
        split.save(out)
    s = split.summary()
    table = Table(title=f"{ds.name} -> target {target}")
    for col in ("test users", "cold (0-4)", "of which 0", "warm (5+)", "valid users", "target items"):
        table.add_column(col, justify="right")
    table.add_row(*(f"{s[k]:,}" for k in ("test_users", "cold", "cold_zero", "warm", "valid_users", "target_items")))
    console.print(table)
    console.print(f"split written to {out}")


def synth_cmd(
    out: str = typer.Option(..., "--out", "-o", help="Canonical dataset directory (or s3://… URI) to write."),
    users: int = typer.Option(None, "--users", help="Number of users."),
    items: int = typer.Option(None, "--items", help="Items per domain."),
    domains: str = typer.Option(None, "--domains", help="Comma-separated domain names."),
    topics: int = typer.Option(None, "--topics", help="Latent topics."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    name: str = typer.Option(None, "--name", help="Dataset name."),
) -> None:
    """Generate a deterministic synthetic multi-domain dataset."""
    from crossrec.data.dataset import save_dataset
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

    given = {"n_users": users, "n_items": items, "domains": _csv_list(domains), "n_topics": topics, "seed": seed,
             "name": name}
    cfg = SyntheticConfig.from_dict({k: v for k, v in given.items() if v is not None}, source="crossrec data synth")
    ds = generate_synthetic(cfg)
    save_dataset(ds, out)
    console.print(f"synthetic {ds.name!r}: {_counts_line(ds.counts())} -> {out}")


def register(app: typer.Typer) -> None:
    data = typer.Typer(name="data", help="Import, describe, split and synthesise datasets.", no_args_is_help=True)
    data.command("import")(import_cmd)
    data.command("stats")(stats_cmd)
    data.command("split")(split_cmd)
    data.command("synth")(synth_cmd)
    app.add_typer(data, name="data")
