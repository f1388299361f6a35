"""Importers: raw public formats -> canonical :class:`crossrec.data.dataset.Dataset`.

Each importer is ``import_<format>(src, opts: ImportOptions, ...) -> Dataset`` and lives in its own module;
:data:`IMPORTERS` maps the CLI's ``--format`` names to them.
"""

from crossrec.data.importers.amazon import import_amazon
from crossrec.data.importers.assemble import ImportOptions
from crossrec.data.importers.grouplens import import_grouplens
from crossrec.data.importers.recbole import import_recbole
from crossrec.data.importers.table import TableLayout, import_table

IMPORTERS = {
    "recbole": import_recbole,
    "grouplens": import_grouplens,
    "amazon": import_amazon,
    "table": import_table,
}

__all__ = ["IMPORTERS", "ImportOptions", "TableLayout", "import_amazon", "import_grouplens", "import_recbole",
           "import_table"]
