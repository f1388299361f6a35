"""Typed configuration base: pydantic models that refuse unknown keys and load from YAML.

All crossrec configs (training, sweeps, serving, jobs) subclass :class:`StrictModel`. Loading errors are
turned into a single line that names the file and the dotted field path, e.g.::

    jobs/configs/local_cpu.yaml: train.epochs: Input should be greater than 0 (got -1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from crossrec.errors import ConfigError

T = TypeVar("T", bound="StrictModel")


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: message (got value)``; joined with '; '."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        parts.append(f"{loc}: {e['msg']}{shown}")
    return f"{source}: " + "; ".join(parts)


class StrictModel(BaseModel):
    """Pydantic base model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str:
        """Where this config came from (the YAML path, or the ``source`` given to :meth:`from_dict`), for
        errors found later, e.g. ``run.yaml: targets: unknown target domain 'films'``."""
        return self._source or f"<{type(self).__name__}>"

    def __eq__(self, other: object) -> bool:
        """Equal values are equal configs, wherever they were loaded from (``source`` is ignored)."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # mutable (validate_assignment), like any pydantic model

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | T, source: str = "<config>") -> T:
        if isinstance(data, cls):
            return data
        try:
            obj = cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, source)) from None
        obj._source = source
        return obj

    @classmethod
    def from_yaml(cls: type[T], path: str | Path) -> T:
        """Load and validate a YAML file; every problem is reported as ``file: field: message``."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def to_yaml(self, path: str | Path) -> Path:
        """Write the config as YAML (atomically) so that :meth:`from_yaml` reads it back unchanged."""
        from crossrec.utils.io import atomic_write_text

        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        return atomic_write_text(Path(path), text)


def _yaml_problem(err: Exception) -> str:
    """One line: the parser's problem and where (1-based line/column), e.g. ``expected ',' or '}' at line 2, column 1``."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem
