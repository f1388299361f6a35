"""Optional dependencies (pyproject extras): each place that needs one, with it missing, gives one line naming
the extra to install, and checks that can run before Ray starts do (a sweep, training, the quality benchmark)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from crossrec.errors import ConfigError
from crossrec.utils.extras import EXTRAS, require

REPO = Path(__file__).resolve().parents[1]


def missing(monkeypatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import module -> ImportError


def one_line(text: str, extra: str) -> str:
    return rf"^{text} needs \w+: pip install 'crossrec\[{extra}\]'$"


def test_every_extra_is_declared_and_installed_by_default() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    required = " ".join(project["dependencies"])
    setup = (REPO / "scripts" / "setup_env.sh").read_text()
    default = re.search(r'CROSSREC_EXTRAS:-([\w,]+)', setup).group(1).split(",")
    for dist, extra in EXTRAS.values():
        dist = {"faiss": "faiss-cpu"}.get(dist, dist)
        assert any(req.startswith(dist) for req in extras[extra]), (dist, extra)
        assert dist not in required, f"{dist} is optional: only in the {extra!r} extra"
        assert extra in default, f"scripts/setup_env.sh should install the {extra!r} extra"


@pytest.mark.parametrize(("module", "extra"), [(m, e) for m, (_, e) in EXTRAS.items()])
def test_require_names_the_extra(monkeypatch, module, extra) -> None:
    missing(monkeypatch, module)
    with pytest.raises(ConfigError, match=one_line("the thing", extra)):
        require(module, "the thing")


def _sweep(tmp_path, **kw):
    from crossrec.tune.config import SweepConfig

    base = {"run_name": "r", "dataset": str(tmp_path / "no-dataset"), "targets": ["movies"],
            "backbone": {"precision": "nf4"}}
    return SweepConfig.from_dict({"name": "s", "target": "movies", "base": base, "mode": "full",
                                  "storage_path": str(tmp_path / "sweeps"),
                                  "space": {"model.fusion.variant": {"choice": ["gate", "sum"]}}, **kw},
                                 source="sweep.yaml")


@pytest.mark.parametrize(("modules", "message"), [
    (("optuna",), one_line("sweep.yaml: search: optuna", "tune")),
    (("matplotlib",), one_line("sweep.yaml: sweep.png", "plots")),
    (("bitsandbytes",), one_line("sweep.yaml: backbone.precision 'nf4'", "quant")),
])
def test_a_sweep_without_an_extra_it_uses_stops_before_ray_starts(tmp_path, monkeypatch, modules, message) -> None:
    import ray

    from crossrec.tune.run import run_sweep

    missing(monkeypatch, *modules)
    with pytest.raises(ConfigError, match=message):
        run_sweep(_sweep(tmp_path, search="optuna"))  # its dataset does not exist either: checked later
    assert not ray.is_initialized()


def test_a_random_search_needs_no_optuna(tmp_path, monkeypatch) -> None:
    from crossrec.tune.run import check_sweep_extras

    missing(monkeypatch, "optuna")
    cfg = _sweep(tmp_path, search="random")
    check_sweep_extras(cfg, cfg.base_train_config(), "sweep.yaml")


def test_plots_without_matplotlib(tmp_path, monkeypatch) -> None:
    from crossrec.benchmarks.quality_report import render_plot
    from crossrec.tune.outputs import plot

    missing(monkeypatch, "matplotlib", "matplotlib.pyplot")
    with pytest.raises(ConfigError, match=one_line("sweep.png", "plots")):
        plot(pd.DataFrame({"valid_ndcg@10": [0.1]}), tmp_path / "sweep.png")
    with pytest.raises(ConfigError, match=one_line("the quality plot", "plots")):
        render_plot({}, tmp_path / "quality.png")
    assert not list(tmp_path.iterdir())


def test_training_preflight_names_the_quant_extra(monkeypatch) -> None:
    from crossrec.train.config import TrainConfig
    from crossrec.train.preflight import check_backbone

    missing(monkeypatch, "bitsandbytes")
    cfg = TrainConfig.from_dict({"run_name": "r", "dataset": "d", "targets": ["movies"],
                                 "backbone": {"precision": "int8"}})
    with pytest.raises(ConfigError, match=one_line("run.yaml: backbone.precision 'int8'", "quant")):
        check_backbone(cfg, "run.yaml")
    check_backbone(cfg.model_copy(update={"backbone": cfg.backbone.model_copy(update={"precision": "bf16"})}),
                   "run.yaml")
