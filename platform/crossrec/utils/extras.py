"""Optional dependencies, installed as pyproject extras: ``pip install 'crossrec[quant,tune,plots,ann]'``.

:func:`require` imports one where it is needed and, when it is missing, raises a one-line ConfigError that names
what needed it and the extra to install, e.g. ``sweep.png needs matplotlib: pip install 'crossrec[plots]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from crossrec.errors import ConfigError

# module -> (distribution, extra)
EXTRAS = {
    "bitsandbytes": ("bitsandbytes", "quant"),  # int8 / nf4 backbones
    "optuna": ("optuna", "tune"),  # sweeps with search: optuna
    "matplotlib": ("matplotlib", "plots"),  # sweep.png, the quality benchmark's plot
    "faiss": ("faiss", "ann"),  # approximate top-k index
}


def missing_message(module: str, needed_by: str) -> str:
    dist, extra = EXTRAS[module]
    return f"{needed_by} needs {dist}: pip install 'crossrec[{extra}]'"


def require(module: str, needed_by: str) -> ModuleType:
    """``import module``, or a ConfigError naming ``needed_by`` and the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(missing_message(module, needed_by)) from None
