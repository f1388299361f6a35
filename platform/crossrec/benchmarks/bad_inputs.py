"""The bad-input matrix behind ``bench/reliability_inputs.py``: malformed inputs through the ``crossrec`` CLI.

Every case must exit non-zero with ONE error line naming the file and the field, print no traceback, and
leave no output that looks complete. Each case corrupts a copy of a small valid fixture (synthetic dataset,
random-weight bundle, train/sweep YAML, fake backbone directories that hold only ``config.json``), runs
``crossrec.cli.main(argv)`` in this process and records the exit code, the error line and any leftovers.
The table of ``docs/results/reliability.md`` ("Inputs tried") comes from the JSON :func:`run_bad_inputs`
writes; ``tests/reliability/test_bad_input_matrix.py`` runs every case and asserts the same checks. The raw
RecBole fixture is read from the source checkout (``tests/fixtures``).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crossrec.benchmarks.results import format_table, write_json

REPO = Path(__file__).resolve().parents[3]
RECBOLE_TINY = REPO / "tests" / "fixtures" / "data" / "recbole" / "tiny"
TARGET = "movies"


@dataclass(frozen=True)
class Case:
    """One malformed input. ``build(ws, d)`` prepares files under the case dir ``d`` and returns the argv;
    ``names`` must all appear in the error line (the file and the field/column); ``outputs`` are paths
    (relative to ``d``) that must not be left behind looking complete."""

    name: str
    area: str
    what: str
    build: Callable[[Workspace, Path], list[str]]
    names: tuple[str, ...]
    outputs: tuple[str, ...] = ()


@dataclass
class Outcome:
    case: str
    area: str
    what: str
    exit_code: int | None
    error_line: str
    stderr_lines: int
    traceback: bool
    leftovers: list[str] = field(default_factory=list)
    missing_names: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.exit_code not in (None, 0) and self.stderr_lines == 1 and self.error_line.startswith("error: ")
                and not self.traceback and not self.leftovers and not self.missing_names)


# ----------------------------------------------------------------------------------------------- fixtures
class Workspace:
    """Valid base fixtures (built once, copied per case) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.base = self.root / "_base"
        self._built: dict[str, Path] = {}

    def dataset(self) -> Path:
        """A small synthetic two-domain dataset (books, movies)."""
        if "dataset" not in self._built:
            from crossrec.data.dataset import save_dataset
            from crossrec.data.synthetic import SyntheticConfig, generate_synthetic

            ds = generate_synthetic(SyntheticConfig(n_users=60, n_items=12, domains=["books", TARGET], n_topics=3,
                                                    max_interactions=20, seed=1))
            self._built["dataset"] = save_dataset(ds, self.base / "data")
        return self._built["dataset"]

    def dataset_with_empty_domain(self) -> Path:
        """The dataset plus a domain 'podcasts' whose items nobody interacted with."""
        if "empty" not in self._built:
            import pandas as pd

            from crossrec.data.dataset import load_dataset, make_dataset, save_dataset

            ds = load_dataset(self.dataset())
            extra = pd.DataFrame({"item_id": ["p1", "p2"], "domain": ["podcasts"] * 2, "text": ["pod one", "pod two"]})
            items = pd.concat([ds.items[["item_id", "domain", "text"]], extra], ignore_index=True)
            empty = make_dataset("with-empty", ds.interactions, items, keep_unused_items=True)
            self._built["empty"] = save_dataset(empty, self.base / "data-empty")
        return self._built["empty"]

    def backbone(self, kind: str) -> Path:
        """A fake Hugging Face directory (``config.json`` only): enough for identity checks, never loaded."""
        path = self.base / f"backbone-{kind}"
        if not path.is_dir():
            path.mkdir(parents=True)
            hidden = {"bert": 32, "llama": 48}[kind]
            (path / "config.json").write_text(json.dumps({"model_type": kind, "hidden_size": hidden}))
        return path

    def bundle(self) -> Path:
        """A random-weight bundle for TARGET over the dataset's catalogue, trained "on" the fake bert."""
        if "bundle" not in self._built:
            import torch

            from crossrec.data.dataset import load_dataset
            from crossrec.data.split import split_target
            from crossrec.model.backbone import backbone_identity
            from crossrec.model.bundle import save_bundle
            from crossrec.model.config import BackboneConfig, ModelConfig
            from crossrec.model.recommender import CrossRecModel

            split = split_target(load_dataset(self.dataset()), TARGET)
            index = split.item_index
            cfg = ModelConfig.from_dict({"tower": {"d_model": 16, "n_layers": 1, "max_len": 8}})
            torch.manual_seed(0)
            model = CrossRecModel(cfg, torch.as_tensor(index.item_domain), len(index.domains),
                                  index.domain_id(TARGET), text_dim=32).eval()
            model.item_tower.set_text_table(torch.randn(len(index.item_ids), 32))
            pop = torch.ones(len(split.target_items)).numpy()
            identity = backbone_identity(BackboneConfig(path=str(self.backbone("bert"))))
            self._built["bundle"] = save_bundle(self.base / "bundle", index, {TARGET: model}, {TARGET: pop},
                                                {"run_name": "b", "model": cfg.model_dump(mode="json")}, identity)
        return self._built["bundle"]

    def train_config(self, d: Path, **overrides: Any) -> dict[str, Any]:
        """A small valid TrainConfig dict; ``overrides`` use dotted keys (``optim.epochs=-1``)."""
        cfg: dict[str, Any] = {
            "run_name": "r", "dataset": str(self.dataset()), "targets": [TARGET], "storage_path": str(d / "runs"),
            "lora": None, "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 8, "use_text": False}},
            "optim": {"epochs": 1, "batch_size": 32}, "checkpoint": {"max_failures": 0},
        }
        for key, value in overrides.items():
            node = cfg
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return cfg


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _set_column(path: Path, name: str, array: Any) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    pq.write_table(table.set_column(table.column_names.index(name), name, array), path)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _train(ws: Workspace, d: Path, extra: list[str] | None = None, **overrides: Any) -> list[str]:
    return ["train", "--config", str(_yaml(d / "bad.yaml", ws.train_config(d, **overrides)))] + (extra or [])


def _split(data: Path, d: Path, target: str = TARGET) -> list[str]:
    return ["data", "split", str(data), "--target", target, "--out", str(d / "split")]


def _evaluate(bundle: Path, data: Path, d: Path, target: str = TARGET) -> list[str]:
    return ["evaluate", "--bundle", str(bundle), "--data", str(data), "--target", target,
            "--out", str(d / "preds.jsonl"), "--json", str(d / "metrics.json")]


def _sweep(ws: Workspace, d: Path, base: dict[str, Any] | None = None, **fields: Any) -> list[str]:
    cfg = {"name": "s", "target": TARGET, "base": base or ws.train_config(d), "storage_path": str(d / "sweeps"),
           "num_samples": 1, "space": {"optim.lr": {"loguniform": [1e-3, 1e-2]}}, **fields}
    return ["tune", "--config", str(_yaml(d / "sweep.yaml", cfg))]


def _truncated_parquet(ws: Workspace, d: Path) -> list[str]:
    data = _copy(ws.dataset(), d / "data")
    (data / "interactions.parquet").write_bytes((data / "interactions.parquet").read_bytes()[:200])
    return _split(data, d)


def _wrong_type(ws: Workspace, d: Path) -> list[str]:
    import pyarrow as pa

    data = _copy(ws.dataset(), d / "data")
    import pyarrow.parquet as pq

    n = pq.read_metadata(data / "interactions.parquet").num_rows
    _set_column(data / "interactions.parquet", "timestamp", pa.array([str(i) for i in range(n)]))
    return _split(data, d)


def _non_utf8_raw(ws: Workspace, d: Path) -> list[str]:
    src = _copy(RECBOLE_TINY, d / "tiny")
    inter = src / "tiny.inter"
    inter.write_bytes(inter.read_bytes().replace(b"Sabrina", b"Sabr\xedna"))
    return ["data", "import", "--format", "recbole", str(src), "--domains", "movielens_genre_groups",
            "--out", str(d / "data")]


def _bundle_copy(ws: Workspace, d: Path) -> Path:
    return _copy(ws.bundle(), d / "bundle")


def _corrupt_bundle(ws: Workspace, d: Path) -> list[str]:
    bundle = _bundle_copy(ws, d)
    _flip_last_byte(bundle / "targets" / TARGET / "heads.safetensors")
    return _evaluate(bundle, ws.dataset(), d)


def _truncated_safetensors(ws: Workspace, d: Path) -> list[str]:
    bundle = _bundle_copy(ws, d)
    f = bundle / "targets" / TARGET / "text_table.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    return _evaluate(bundle, ws.dataset(), d)


def _truncated_safetensors_unverified(ws: Workspace, d: Path) -> list[str]:
    """A truncated file whose manifest was rewritten to match (e.g. copied by a tool that re-manifests)."""
    from crossrec.model.bundle_io import write_manifest

    bundle = _bundle_copy(ws, d)
    f = bundle / "targets" / TARGET / "popularity.safetensors"
    f.write_bytes(f.read_bytes()[:40])
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text())["backbone"])
    return _evaluate(bundle, ws.dataset(), d)


def _half_written_bundle(ws: Workspace, d: Path) -> list[str]:
    bundle = _bundle_copy(ws, d)
    (bundle / "manifest.json").unlink()
    return _evaluate(bundle, ws.dataset(), d)


def _other_catalogue(ws: Workspace, d: Path) -> list[str]:
    return _evaluate(ws.bundle(), ws.dataset_with_empty_domain(), d)


def _resume_other_backbone(ws: Workspace, d: Path) -> list[str]:
    """A run started on backbone A, re-run (resumed) with backbone B: its checkpoints/adapters are A's."""
    cfg = ws.train_config(d, **{"backbone.path": str(ws.backbone("bert")), "model.tower.use_text": True})
    run = d / "runs" / "r"
    run.mkdir(parents=True)
    _yaml(run / "config.yaml", cfg)
    return _train(ws, d, **{"backbone.path": str(ws.backbone("llama")), "model.tower.use_text": True})


def _bad_yaml(ws: Workspace, d: Path) -> list[str]:
    (d / "bad.yaml").write_text("run_name: r\noptim: {epochs: 3\n")
    return ["train", "--config", str(d / "bad.yaml")]


CASES: list[Case] = [
    Case("truncated Parquet", "data", "interactions.parquet cut to 200 bytes; `data split`", _truncated_parquet,
         ("interactions.parquet", "not a readable Parquet file"), ("split",)),
    Case("wrong column type", "data", "timestamp column holds strings; `data split`", _wrong_type,
         ("interactions.parquet", "column 'timestamp'", "type string"), ("split",)),
    Case("non-UTF-8 raw text", "data", "a Latin-1 byte in a RecBole .inter file; `data import`", _non_utf8_raw,
         ("tiny.inter", "line 5", "UTF-8"), ("data",)),
    Case("empty target domain (split)", "data", "`data split --target podcasts`: items but no interactions",
         lambda ws, d: _split(ws.dataset_with_empty_domain(), d, "podcasts"),
         ("data-empty", "--target", "'podcasts'", "no interactions"), ("split",)),
    Case("missing dataset dir (split)", "data", "`data split` of a directory that does not exist",
         lambda ws, d: _split(d / "nope", d), ("nope", "dataset directory not found"), ("split",)),
    Case("missing raw source", "data", "`data import` of a RecBole directory that does not exist",
         lambda ws, d: ["data", "import", "--format", "recbole", str(d / "nope"), "--out", str(d / "data")],
         ("nope",), ("data",)),
    Case("unknown target domain", "train", "train YAML `targets: [films]`",
         lambda ws, d: _train(ws, d, targets=["films"]), ("bad.yaml", "targets", "'films'", "books, movies"),
         ("runs/r",)),
    Case("empty target domain (train)", "train", "train YAML targets a domain without interactions",
         lambda ws, d: _train(ws, d, targets=["podcasts"], dataset=str(ws.dataset_with_empty_domain())),
         ("bad.yaml", "targets", "'podcasts'", "no interactions"), ("runs/r",)),
    Case("negative epochs (YAML)", "train", "train YAML `optim.epochs: -1`",
         lambda ws, d: _train(ws, d, **{"optim.epochs": -1}), ("bad.yaml", "optim.epochs", "greater than 0"),
         ("runs/r",)),
    Case("negative epochs (flag)", "train", "`crossrec train --epochs -1`",
         lambda ws, d: _train(ws, d, extra=["--epochs", "-1"]), ("bad.yaml", "optim.epochs", "(got -1)"),
         ("runs/r",)),
    Case("missing backbone path", "train", "train YAML `backbone.path` names no directory",
         lambda ws, d: _train(ws, d, **{"backbone.path": str(d / "no-model"), "model.tower.use_text": True}),
         ("bad.yaml", "backbone.path", "no-model"), ("runs/r",)),
    Case("missing dataset dir (train)", "train", "train YAML `dataset` names no directory",
         lambda ws, d: _train(ws, d, dataset=str(d / "nope")), ("bad.yaml", "dataset", "nope", "not found"),
         ("runs/r",)),
    Case("YAML syntax error", "train", "an unclosed `{` in the train YAML", _bad_yaml,
         ("bad.yaml", "not valid YAML", "line")),
    Case("unknown YAML key", "train", "train YAML `optim.lrr: 0.1` (typo)",
         lambda ws, d: _train(ws, d, **{"optim.lrr": 0.1}), ("bad.yaml", "optim.lrr", "Extra inputs"),
         ("runs/r",)),
    Case("config file not found", "train", "`crossrec train --config missing.yaml`",
         lambda ws, d: ["train", "--config", str(d / "missing.yaml")], ("missing.yaml", "not found")),
    Case("resume with another backbone", "train", "re-run of a run started on backbone A with backbone B",
         _resume_other_backbone, ("bad.yaml", "backbone.path", "backbone-bert", "backbone-llama")),
    Case("bundle of another backbone", "tune", "sweep `bundle:` trained on bert, base config on llama",
         lambda ws, d: _sweep(ws, d, base=ws.train_config(d, **{"backbone.path": str(ws.backbone("llama")),
                                                                "model.tower.use_text": True}),
                              bundle=str(ws.bundle())),
         ("sweep.yaml", "bundle", "manifest.json", "backbone-bert", "backbone-llama"), ("sweeps/s",)),
    Case("unknown sweep key", "tune", "sweep `space: {optim.lrr: ...}`",
         lambda ws, d: _sweep(ws, d, space={"optim.lrr": {"uniform": [0, 1]}}), ("sweep.yaml", "space.optim.lrr"),
         ("sweeps/s",)),
    Case("unknown sweep target", "tune", "sweep `target: films`",
         lambda ws, d: _sweep(ws, d, target="films"), ("sweep.yaml", "target", "'films'"), ("sweeps/s",)),
    Case("corrupted bundle file", "evaluate", "one byte of heads.safetensors flipped", _corrupt_bundle,
         ("heads.safetensors", "checksum mismatch"), ("preds.jsonl", "metrics.json")),
    Case("truncated safetensors", "evaluate", "text_table.safetensors cut to 100 bytes", _truncated_safetensors,
         ("text_table.safetensors", "truncated"), ("preds.jsonl", "metrics.json")),
    Case("truncated safetensors, manifest rewritten", "evaluate",
         "popularity.safetensors cut to 40 bytes and re-manifested (checksums pass)", _truncated_safetensors_unverified,
         ("popularity.safetensors", "not a readable safetensors file"), ("preds.jsonl", "metrics.json")),
    Case("half-written bundle", "evaluate", "bundle without manifest.json", _half_written_bundle,
         ("manifest.json", "missing"), ("preds.jsonl", "metrics.json")),
    Case("bundle of another catalogue", "evaluate", "bundle evaluated on a dataset with other items", _other_catalogue,
         ("bundle", "different item catalogue"), ("preds.jsonl", "metrics.json")),
    Case("unknown evaluate target", "evaluate", "`evaluate --target films`",
         lambda ws, d: _evaluate(ws.bundle(), ws.dataset(), d, "films"), ("bundle", "'films'"),
         ("preds.jsonl", "metrics.json")),
]


# ----------------------------------------------------------------------------------------------- running
def complete_looking(path: Path) -> bool:
    """Does ``path`` exist and load as what it claims to be (dataset, split, bundle, run, plain file)?"""
    if not path.exists():
        return False
    if path.is_file():
        return True
    from crossrec.errors import CrossrecError

    loaders: list[Callable[[Path], Any]] = []
    if (path / "dataset.json").exists():
        from crossrec.data.dataset import load_dataset

        loaders.append(load_dataset)
    if (path / "split.json").exists():
        from crossrec.data.split import load_split

        loaders.append(load_split)
    if (path / "bundle.json").exists() or (path / "bundle").exists():
        from crossrec.model.bundle import ModelBundle

        loaders.append(lambda p: ModelBundle.load(p if (p / "bundle.json").exists() else p / "bundle"))
    if any(path.rglob("metrics.json")) or any(path.rglob("results.csv")):
        return True
    for load in loaders:
        try:
            load(path)
            return True
        except (CrossrecError, OSError, ValueError):
            continue
    return False


def run_case(case: Case, ws: Workspace) -> Outcome:
    """Run one case through ``crossrec.cli.main`` in this process (fresh case dir)."""
    from crossrec.cli import main

    d = ws.root / case.name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    argv = case.build(ws, d)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(argv)
        except BaseException:  # noqa: BLE001 - an escaping exception is exactly what this looks for
            traceback.print_exc()
            code = None
    seconds = time.perf_counter() - t0
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    text = err.getvalue() + out.getvalue()
    first = lines[0] if lines else ""
    return Outcome(
        case=case.name, area=case.area, what=case.what, exit_code=code, error_line=first, stderr_lines=len(lines),
        traceback="Traceback (most recent call last)" in text,
        leftovers=[o for o in case.outputs if complete_looking(d / o)],
        missing_names=[n for n in case.names if n not in first], seconds=round(seconds, 3),
    )


def markdown(outcomes: list[Outcome], root: Path) -> str:
    """The "Inputs tried" table: case, command area, corruption, exit code and the error line (paths shortened)."""
    rows = [{"input": o.case, "command": o.area, "corruption": o.what, "exit": o.exit_code,
             "error line": "`" + o.error_line.replace(str(root) + "/", "").replace("|", "\\|") + "`",
             "ok": "yes" if o.ok else "NO"} for o in outcomes]
    return format_table(rows, ["input", "command", "corruption", "exit", "error line", "ok"])


def run_all(root: Path, cases: list[Case] | None = None) -> list[Outcome]:
    ws = Workspace(root)
    return [run_case(c, ws) for c in (cases or CASES)]


def run_bad_inputs(out: str | Path, quick: bool = False, work: str | Path | None = None) -> int:
    """Every case (``quick``: the first of each command area) under ``work`` (default: a temporary
    directory); prints the table, writes ``out``; 1 when a case fails its checks."""
    with tempfile.TemporaryDirectory(prefix="crossrec-badinputs-") as tmp:
        root = Path(work or tmp)
        cases = [c for i, c in enumerate(CASES) if c.area not in {x.area for x in CASES[:i]}] if quick else CASES
        outcomes = run_all(root, cases)
        table = markdown(outcomes, root)
    print(table)
    failed = [o.case for o in outcomes if not o.ok]
    write_json(out, {"cases": [o.__dict__ for o in outcomes], "failed": failed, "table_md": table})
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} cases give one clear error line and leave nothing behind")
    return 1 if failed else 0
