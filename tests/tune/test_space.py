"""Search-space parsing: good spaces become Tune domains; bad ones give one-line errors naming the key."""

from __future__ import annotations

import pytest

from crossrec.errors import ConfigError
from crossrec.train.config import TrainConfig
from crossrec.tune.config import SweepConfig, apply_params, build_search_space

BASE = {"run_name": "r", "dataset": "d", "targets": ["movies"]}


def sweep(space: dict, **kw) -> SweepConfig:
    return SweepConfig.from_dict({"name": "s", "target": "movies", "base": BASE, "space": space, **kw})


def test_good_space() -> None:
    cfg = sweep({"model.fusion.variant": {"choice": ["gate", "sum"]}, "optim.lr": {"loguniform": [1e-4, 1e-2]},
                 "model.fusion.hidden": {"randint": [16, 65]}, "model.fusion.transfer": {"grid": [True, False]}})
    space = build_search_space(cfg, cfg.base_train_config())
    assert set(space) == set(cfg.space)
    tuned = apply_params(cfg.base_train_config(), {"model.fusion.variant": "sum", "optim.lr": 0.003})
    assert tuned.model.fusion.variant == "sum" and tuned.optim.lr == 0.003


@pytest.mark.parametrize(("space", "message"), [
    ({"model.fusion.colour": {"choice": [1]}}, "space.model.fusion.colour: 'colour' is not a TrainConfig field"),
    ({"optim.lr": {"normal": [0, 1]}}, "space.optim.lr: expected one of"),
    ({"optim.lr": {"loguniform": [0, 1]}}, r"space.optim.lr: bad bounds \[0, 1\] for loguniform"),
    ({"optim.lr": {"uniform": [1, 0.1]}}, "bad bounds"),
    ({"optim.lr": {"uniform": "fast"}}, r"uniform needs \[low, high\]"),
    ({"model.fusion.variant": {"choice": []}}, "choice needs a non-empty list"),
    ({"model.fusion.variant": {"choice": ["gate", "max"]}}, r"space.model.fusion.variant: value 'max' is invalid"),
    ({"model.fusion.dropout": {"uniform": [0.0, 1.5]}}, r"value 1.5 is invalid"),
])
def test_bad_space(space, message) -> None:
    cfg = sweep(space)
    with pytest.raises(ConfigError, match=message):
        build_search_space(cfg, cfg.base_train_config())


def test_sweep_config_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one of base_config"):
        SweepConfig.from_dict({"name": "s", "target": "t", "space": {"optim.lr": {"choice": [1]}}})
    with pytest.raises(ConfigError, match="grid entries cannot be used with search: optuna"):
        sweep({"optim.lr": {"grid": [0.1]}}, search="optuna")
    with pytest.raises(ConfigError, match="num_samples"):
        sweep({"optim.lr": {"choice": [0.1]}}, num_samples=0)
    assert isinstance(sweep({"optim.lr": {"choice": [0.1]}}).base_train_config(), TrainConfig)
