"""``crossrec catalogue add|remove --bundle B --file items.jsonl``: publish a catalogue update of a bundle.

Writes the same versioned update as ``POST /admin/catalogue`` (:mod:`crossrec.serve.catalogue`) into the
catalogue directory the service reads (``--catalogue``; default ``<bundle>.catalogue``): running services pick
it up on their next request, no restart. ``add`` embeds the new items in this process (backbone + adapters).
"""

from __future__ import annotations

from pathlib import Path

import typer


def _read_items(path: Path) -> list[dict]:
    """JSONL rows (``{"item_id", "domain", "text"}`` to add; ``{"item_id"}`` is enough to remove)."""
    import json

    from crossrec.errors import ConfigError

    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{n}: not a JSON object ({err.msg})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: no items")
    return rows


def _publish(bundle: Path, catalogue: Path | None, add: list[dict], remove: list[str]) -> None:
    from pydantic import ValidationError

    from crossrec.config import format_validation_error
    from crossrec.errors import ConfigError
    from crossrec.serve.catalogue import default_catalogue_dir
    from crossrec.serve.pipeline import RecommendationService
    from crossrec.serve.schemas import CatalogueUpdateRequest

    try:
        request = CatalogueUpdateRequest(add=add, remove=remove)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, "catalogue update")) from None
    service = RecommendationService(bundle, catalogue_dir=catalogue or default_catalogue_dir(str(bundle)))
    out = service.update_catalogue(request)
    typer.echo(f"catalogue version {out['catalogue_version']} of bundle {out['model_version']} "
               f"({service.catalog.store.dir}): added {len(out['added'])}, removed {len(out['removed'])}")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Add or remove items of a served bundle's catalogue (a new published version).",
                      no_args_is_help=True)
    app.add_typer(sub, name="catalogue")
    bundle_opt = typer.Option(..., "--bundle", "-b", help="Model bundle directory.")
    file_opt = typer.Option(..., "--file", "-f", help="JSONL, one item per line.")
    catalogue_opt = typer.Option(None, "--catalogue", help="Catalogue directory (default: <bundle>.catalogue, "
                                 "the service's default).")

    @sub.command("add")
    def add_cmd(bundle: Path = bundle_opt, file: Path = file_opt, catalogue: Path = catalogue_opt) -> None:
        """Add items ({"item_id", "domain", "text"} per line): embedded now, recommendable at once."""
        _publish(bundle, catalogue, _read_items(file), [])

    @sub.command("remove")
    def remove_cmd(bundle: Path = bundle_opt, file: Path = file_opt, catalogue: Path = catalogue_opt) -> None:
        """Remove items ({"item_id"} per line): never recommended again."""
        from crossrec.errors import ConfigError

        rows = _read_items(file)
        missing = [n for n, row in enumerate(rows, start=1) if not isinstance(row.get("item_id"), str)]
        if missing:
            raise ConfigError(f"{file}: line(s) {missing} have no string item_id")
        _publish(bundle, catalogue, [], [row["item_id"] for row in rows])
