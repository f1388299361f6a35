"""Typed configuration base: pydantic models that refuse unknown keys and load from YAML.

All crossrec configs (training, sweeps, serving, jobs) subclass :class:`StrictModel`. Loading errors are
turned into a single line that names the file and the dotted field path, e.g.::

    jobs/configs/local_cpu.yaml: train.epochs: Input should be greater than 0 (got -1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

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

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | T, source: str = "<config>") -> T:
        if isinstance(data, cls):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, source)) from None

    @classmethod
    def from_yaml(cls: type[T], path: str | Path) -> T:
        """Load and validate a YAML file; every problem is reported as ``file: field: message``."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            first = str(err).strip().splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML: {first}") from None
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
