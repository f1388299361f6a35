"""Every typed config class of crossrec survives YAML, ``model_dump`` and pickle round trips.

Config classes are discovered, not listed: every module of the ``crossrec`` package is imported and every
:class:`crossrec.config.StrictModel` subclass defined in crossrec whose name ends in ``Config`` is checked
(Ray pickles configs to workers; runs write them as YAML and read them back). A config class with required
fields needs a minimal valid example in :data:`EXAMPLES`; a new one without it fails here, by name.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pickle
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import crossrec
from crossrec.config import StrictModel

# The only StrictModel subclasses allowed a name not ending in "Config" (request/response schemas).
SCHEMA_MODULE = "crossrec.serve.schemas"

# Class name -> minimal valid keyword arguments, for config classes with required fields.
EXAMPLES: dict[str, dict[str, Any]] = {
    "QualitySuiteConfig": {"configs": ["bench/configs/quality_ml1m.yaml", "bench/configs/quality_amazon.yaml"]},
    "ExplanationRunConfig": {"name": "ml1m", "quality_config": "bench/configs/quality_ml1m.yaml", "target": "family"},
    "ExplanationsConfig": {"runs": [{"name": "ml1m", "quality_config": "bench/configs/quality_ml1m.yaml",
                                     "target": "family", "budget": {"max_epochs": 2}}]},
    "MethodConfig": {"name": "mostpop", "kind": "mostpop"},
    "QualityConfig": {
        "synthetic": {},
        "targets": ["books"],
        "base_train_config": "jobs/configs/local_cpu.yaml",
        "methods": [{"name": "mostpop", "kind": "mostpop", "baseline": True}, {"name": "crossrec", "kind": "crossrec"}],
    },
    "ScreenConfig": {
        "name": "screen",
        "quality_config": "bench/configs/quality.yaml",
        "target": "books",
        "methods": [{"name": "crossrec", "kind": "crossrec", "overrides": {"model.fusion.transfer": False}}],
    },
    "DomainMappingConfig": {"field": ["genre"], "default": "drama", "groups": {"family": ["Animation"]}},
    "EvaluateJobConfig": {"bundle": "runs/demo/bundle", "dataset": "data/demo", "targets": ["books"],
                          "output": "runs/demo/eval"},
    "BatchRecommendJobConfig": {"bundle": "runs/demo/bundle", "dataset": "data/demo", "target": "books",
                                "output": "runs/demo/recs.parquet"},
    "EmbedItemsJobConfig": {"dataset": "data/demo", "output": "runs/demo/embeddings"},
    "ServeAppConfig": {"bundle": "runs/demo/bundle"},
    "TrainConfig": {"run_name": "demo", "dataset": "data/demo", "targets": ["books"]},
    "SweepConfig": {
        "name": "sweep",
        "target": "books",
        "base": {"run_name": "demo", "dataset": "data/demo", "targets": ["books"]},
        "space": {"optim.lr": {"loguniform": [1.0e-4, 1.0e-2]}, "model.fusion.transfer": {"grid": [True, False]}},
    },
}


def _module_names() -> list[str]:
    """Every module of the crossrec package, found on disk.

    ``pkgutil.walk_packages`` is not enough: it does not descend into directories without ``__init__.py``
    (implicit namespace packages, e.g. ``crossrec/model``), so their modules would be skipped silently.
    """
    names = set()
    for root in map(Path, crossrec.__path__):
        for file in root.rglob("*.py"):
            if "__pycache__" in file.parts:
                continue
            parts = list(file.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.add(".".join(["crossrec", *parts]))
    return sorted(names)


def _is_script(name: str) -> bool:
    """``__main__`` modules run the program when imported; they are checked to define no class instead."""
    return name.rsplit(".", 1)[-1] == "__main__"


def _import_all() -> dict[str, str]:
    """Import every crossrec module; returns module name -> error for those that cannot be imported."""
    failed: dict[str, str] = {}
    for name in _module_names():
        if _is_script(name):
            continue
        try:
            importlib.import_module(name)
        except BaseException as err:  # noqa: BLE001 - SystemExit etc. must be reported too
            failed[name] = f"{type(err).__name__}: {err}"
    return failed


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _in_crossrec(cls: type) -> bool:
    return cls.__module__ == "crossrec" or cls.__module__.startswith("crossrec.")


IMPORT_FAILURES = _import_all()
STRICT_MODELS = sorted((c for c in _subclasses(StrictModel) if _in_crossrec(c)),
                       key=lambda c: (c.__module__, c.__qualname__))
CONFIG_CLASSES = {c.__name__: c for c in STRICT_MODELS if c.__name__.endswith("Config")}


def test_every_crossrec_module_imports():
    assert _module_names(), "no crossrec module found"
    assert not IMPORT_FAILURES, "crossrec modules that cannot be imported (their config classes are not checked):\n" + \
        "\n".join(f"  {name}: {err}" for name, err in IMPORT_FAILURES.items())


def test_script_modules_define_no_class():
    """The ``__main__`` modules, not imported above, cannot hide a config class."""
    for name in filter(_is_script, _module_names()):
        spec = importlib.util.find_spec(name)
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
        assert not classes, f"{name} defines {classes} but is not imported by this test (it runs the program)"


def test_naming_rule():
    """Every StrictModel subclass is a ``*Config``, except the Serve request/response schemas."""
    bad = [f"{c.__module__}.{c.__qualname__}" for c in STRICT_MODELS
           if not c.__name__.endswith("Config") and c.__module__ != SCHEMA_MODULE]
    assert not bad, f"typed config classes must be named *Config (or live in {SCHEMA_MODULE}): {bad}"


def test_config_named_pydantic_models_are_strict():
    """A pydantic model named ``*Config`` must subclass StrictModel (unknown keys are errors)."""
    bad = [f"{c.__module__}.{c.__qualname__}" for c in _subclasses(BaseModel)
           if _in_crossrec(c) and c.__name__.endswith("Config") and not issubclass(c, StrictModel)]
    assert not bad, f"config classes that do not subclass crossrec.config.StrictModel: {bad}"


def test_config_class_names_are_unique():
    names = [c.__name__ for c in STRICT_MODELS if c.__name__.endswith("Config")]
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, f"config class names defined more than once (EXAMPLES is keyed by name): {dup}"


def test_examples_name_existing_classes():
    stale = sorted(set(EXAMPLES) - set(CONFIG_CLASSES))
    assert not stale, f"EXAMPLES entries for classes that no longer exist (renamed?): {stale}"


def _example(name: str) -> StrictModel:
    cls = CONFIG_CLASSES[name]
    required = [field for field, info in cls.model_fields.items() if info.is_required()]
    if required and name not in EXAMPLES:
        pytest.fail(f"{cls.__module__}.{name} has required fields {required}: add a minimal valid example "
                    f"to EXAMPLES in {Path(__file__).name}")
    return cls.from_dict(EXAMPLES.get(name, {}), source=f"EXAMPLES[{name!r}]")


@pytest.mark.parametrize("name", sorted(CONFIG_CLASSES))
def test_yaml_round_trip(name: str, tmp_path: Path):
    obj = _example(name)
    path = obj.to_yaml(tmp_path / f"{name}.yaml")
    loaded = type(obj).from_yaml(path)
    assert loaded == obj, f"{name}: YAML round trip changed the config\n{path.read_text()}"
    assert loaded.model_dump() == obj.model_dump()


@pytest.mark.parametrize("name", sorted(CONFIG_CLASSES))
def test_model_dump_round_trip(name: str):
    obj = _example(name)
    cls = type(obj)
    assert cls.from_dict(obj.model_dump(mode="json")) == obj
    assert cls.model_validate(obj.model_dump()) == obj


@pytest.mark.parametrize("name", sorted(CONFIG_CLASSES))
def test_pickle_round_trip(name: str):
    obj = _example(name)
    loaded = pickle.loads(pickle.dumps(obj))
    assert type(loaded) is type(obj)
    assert loaded == obj
    assert loaded.source == obj.source
