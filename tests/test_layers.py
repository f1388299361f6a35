"""The house reads top-down: cli/jobs → train/tune/serve/ops → eval → model → data → base.

Every ``import crossrec...`` in the package (module level and inside functions) is checked against the
layer order of docs/architecture.md; no subpackage imports a higher layer, no two subpackages import each
other, and the lower layers keep their promises (data: no torch, no ray; model, eval: no ray).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import crossrec

ROOT = Path(crossrec.__file__).parent
# lowest first; a module may import its own layer and the layers below it
LAYERS: list[tuple[str, ...]] = [
    ("crossrec", "crossrec.errors", "crossrec.config", "crossrec.utils", "crossrec.tracking"),
    ("crossrec.data",),
    ("crossrec.model",),
    ("crossrec.eval",),
    ("crossrec.train", "crossrec.tune", "crossrec.serve", "crossrec.ops"),
    ("crossrec.benchmarks", "crossrec.jobs", "crossrec.quickstart", "crossrec.cli"),
]
FORBIDDEN = {"crossrec.data": ("torch", "ray"), "crossrec.model": ("ray",), "crossrec.eval": ("ray",)}


def _module_name(path: Path) -> str:
    parts = ["crossrec", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> every module it imports (absolute names), anywhere in its source."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found[module].add(node.module)
            elif isinstance(node, ast.Import):
                found[module].update(alias.name for alias in node.names)
    return found


def _layer(module: str) -> tuple[int, str]:
    """(layer number, subpackage) of a crossrec module: the longest matching prefix wins."""
    best = (-1, "")
    for number, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best[1]):
                best = (number, name)
    return best


IMPORTS = _imports()


def test_every_module_belongs_to_a_layer() -> None:
    assert all(_layer(m)[0] >= 0 for m in IMPORTS)
    assert len(IMPORTS) > 50  # the walk found the package


def test_no_module_imports_a_higher_layer() -> None:
    upward = [f"{m} -> {t}" for m, targets in IMPORTS.items() for t in targets
              if t.startswith("crossrec") and _layer(t)[0] > _layer(m)[0]]
    assert upward == []


def test_no_two_subpackages_import_each_other() -> None:
    edges = {(_layer(m)[1], _layer(t)[1]) for m, targets in IMPORTS.items() for t in targets
             if t.startswith("crossrec") and _layer(t)[1] != _layer(m)[1]}
    assert sorted((a, b) for a, b in edges if (b, a) in edges and a != "crossrec" and b != "crossrec") == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_keep_ray_and_torch_out(package: str) -> None:
    banned = FORBIDDEN[package]
    offenders = [f"{m} imports {t}" for m, targets in IMPORTS.items() if _layer(m)[1] == package
                 for t in targets if t.split(".")[0] in banned]
    assert offenders == []
