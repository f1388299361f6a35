"""Model bundles: everything evaluation, tuning and serving need, in one directory, loaded with one call.

Layout::

    manifest.json              files + sha256 checksums, backbone identity, format version (bundle_io)
    bundle.json                run name, model/backbone/LoRA config, domains, per-target metrics
    items.parquet              the item index (row i = item index i+1): item_id, domain, text
    targets/<T>/heads.safetensors        CrossRecModel state of target T
    targets/<T>/text_table.safetensors   (N+1, H) cached item text embeddings seen by T's model
    targets/<T>/popularity.safetensors   (N_T,) training popularity (cold-start fallback)
    targets/<T>/ann.faiss, ann.json      optional ANN index of T's catalogue vectors (:func:`add_ann_indexes`)
    adapters/<T>/                        T's LoRA adapter (peft format, safetensors), when trained

Loading needs no backbone: item text embeddings are cached. The backbone is only needed to embed *new*
items (``jobs/embed_items.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from crossrec import __version__
from crossrec.data.sequences import ItemIndex
from crossrec.errors import BundleError, ModelInputError
from crossrec.model.bundle_io import verify_bundle, write_manifest
from crossrec.model.config import ModelConfig
from crossrec.model.factory import load_heads, save_heads
from crossrec.model.recommender import CrossRecModel
from crossrec.utils.io import atomic_directory, atomic_write_json
from crossrec.utils.tensors import load_tensors, save_tensors

if TYPE_CHECKING:  # faiss-free at import: crossrec.model.ann is imported where an index is built or read
    from crossrec.model.ann import AnnConfig, AnnIndex

BUNDLE_FORMAT = 1
ANN_FILE = "ann.faiss"


@dataclass
class TargetModel:
    """One target domain's loaded heads plus precomputed catalogue vectors (N_T, D)."""

    target: str
    model: CrossRecModel
    catalogue_vectors: torch.Tensor
    popularity: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    ann_file: Path | None = None  # targets/<T>/ann.faiss when the bundle has one (read on first use of .ann)

    @cached_property
    def ann(self) -> AnnIndex | None:
        """ANN index over ``catalogue_vectors`` (re-scoring against them), None when the bundle has none.
        Read on first access, which needs faiss (ConfigError naming the ``ann`` extra when missing): exact
        scoring (evaluation, small catalogues) never loads it. Raises BundleError on a stale/corrupt index."""
        if self.ann_file is None:
            return None
        from crossrec.model.ann import AnnIndex

        return AnnIndex.load(self.ann_file, self.catalogue_vectors.detach().float().cpu().numpy())

    @property
    def catalogue(self) -> np.ndarray:
        """(N_T,) item indices of the target catalogue, in score-column order."""
        return self.model.catalogue.cpu().numpy()


def save_bundle(
    directory: Path,
    item_index: ItemIndex,
    models: dict[str, CrossRecModel],
    popularity: dict[str, np.ndarray],
    meta: dict[str, Any],
    backbone_identity: dict[str, Any] | None,
    adapter_dirs: dict[str, Path] | None = None,
) -> Path:
    """Write a bundle atomically (a crash never leaves a half-written bundle at ``directory``)."""
    with atomic_directory(Path(directory)) as tmp:
        items = pd.DataFrame(
            {"item_id": item_index.item_ids[1:], "domain": [item_index.domains[d - 1] for d in item_index.item_domain[1:]],
             "text": item_index.texts[1:]}
        )
        items.to_parquet(tmp / "items.parquet", index=False)
        for target, model in models.items():
            tdir = tmp / "targets" / target
            tdir.mkdir(parents=True)
            save_heads(model, tdir)
            save_tensors({"popularity": torch.as_tensor(popularity[target], dtype=torch.float32)},
                         tdir / "popularity.safetensors")
        for target, src in (adapter_dirs or {}).items():
            shutil.copytree(src, tmp / "adapters" / target)
        full_meta = {"format": BUNDLE_FORMAT, "crossrec_version": __version__, "domains": item_index.domains,
                     "targets": sorted(models), **meta}
        atomic_write_json(tmp / "bundle.json", full_meta)
        write_manifest(tmp, backbone_identity=backbone_identity)
    return Path(directory)


class ModelBundle:
    """A loaded bundle: item index, per-target models (eval mode) and metadata."""

    def __init__(self, path: Path, meta: dict[str, Any], manifest: dict[str, Any], item_index: ItemIndex,
                 targets: dict[str, TargetModel]) -> None:
        self.path = path
        self.meta = meta
        self.manifest = manifest
        self.item_index = item_index
        self.targets = targets

    @property
    def version(self) -> str:
        """Short content hash identifying the bundle (``model_version`` in API responses)."""
        return str(self.manifest.get("bundle_hash", ""))[:12]

    @property
    def domains(self) -> list[str]:
        return list(self.item_index.domains)

    def target(self, name: str) -> TargetModel:
        if name not in self.targets:
            raise ModelInputError(f"unknown target domain {name!r}; this bundle serves {sorted(self.targets)}")
        return self.targets[name]

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", targets: list[str] | None = None,
             verify: bool = True) -> ModelBundle:
        """Load (and by default checksum-verify) a bundle from a directory or a URI (``s3://…``: staged into a
        local cache first, :func:`crossrec.utils.storage.stage`). Raises BundleError naming the bad file."""
        from crossrec.utils.storage import stage

        path = stage(path)
        if not (path / "bundle.json").is_file():
            raise BundleError(f"{path}: not a crossrec bundle (bundle.json missing)")
        manifest = verify_bundle(path) if verify else json.loads((path / "manifest.json").read_text())
        meta = json.loads((path / "bundle.json").read_text())
        if meta.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{path}/bundle.json: unsupported bundle format {meta.get('format')!r} (expected {BUNDLE_FORMAT})")
        item_index = ItemIndex.from_items(pd.read_parquet(path / "items.parquet"))
        bundle = cls(path, meta, manifest, item_index, {})
        for target in meta["targets"] if targets is None else targets:
            bundle.targets[target] = bundle.read_target(target, device)
        return bundle

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.meta["model"], source=f"{self.path}/bundle.json: model")

    def read_target(self, target: str, device: str | torch.device = "cpu") -> TargetModel:
        """Read target ``target``'s heads (eval mode) and catalogue vectors from the bundle directory (files
        already verified by :meth:`load`). Not kept in ``targets``: a caller with its own cache (the Serve
        stages' LRU) decides how long it lives. Raises BundleError naming the bad file."""
        tdir = self.path / "targets" / target
        if target not in self.meta["targets"] or not tdir.is_dir():
            raise BundleError(f"{self.path}: no target {target!r} in bundle (has {self.meta['targets']})")
        model = load_heads(self.model_config, self.item_index, target, tdir, device)
        with torch.no_grad():
            vectors = model.catalogue_vectors()
        popularity = load_tensors(tdir / "popularity.safetensors")["popularity"].numpy()
        ann_file = tdir / ANN_FILE if (tdir / ANN_FILE).is_file() else None
        return TargetModel(target, model, vectors, popularity, self.meta.get("metrics", {}).get(target, {}), ann_file)


def add_ann_indexes(bundle_dir: str | Path, cfg: AnnConfig | None = None, targets: list[str] | None = None,
                    min_items: int = 0, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Build ``targets/<T>/ann.faiss`` (+ ``ann.json``) for each target (default: all) whose catalogue has at
    least ``min_items`` items, record them under ``"ann"`` in bundle.json and re-write the manifest.

    Atomic: the bundle is rebuilt in a temporary sibling (unchanged files hard-linked, not copied) that then
    replaces ``bundle_dir``; a reader never sees a half-written bundle. Other targets' indexes are kept.
    Returns ``{target: {config..., n_items, dim, normalize, build_s, index_bytes}}`` for the targets built.
    """
    from crossrec.model.ann import AnnConfig, AnnIndex

    cfg, bundle_dir = cfg or AnnConfig(), Path(bundle_dir)
    bundle = ModelBundle.load(bundle_dir, targets=[])  # verified
    built: dict[str, dict[str, Any]] = {}
    with atomic_directory(bundle_dir) as tmp:
        shutil.copytree(bundle_dir, tmp, dirs_exist_ok=True, copy_function=_link_or_copy)
        for target in targets or bundle.meta["targets"]:
            tm = bundle.read_target(target)
            vectors = tm.catalogue_vectors.detach().float().cpu().numpy()
            if vectors.shape[0] < min_items:
                log(f"[ann] {target}: {vectors.shape[0]} items < min_items {min_items}, skipped")
                continue
            start = time.perf_counter()
            index = AnnIndex.build(vectors, cfg, normalize=tm.model.ranks_by_cosine)
            build_s = time.perf_counter() - start
            index.save(tmp / "targets" / target / ANN_FILE)
            built[target] = {**cfg.model_dump(mode="json"), "n_items": index.n, "dim": index.dim,
                             "normalize": index.normalize, "build_s": round(build_s, 3),
                             "index_bytes": index.memory_bytes}
            log(f"[ann] {target}: {cfg.kind} over {index.n} x {index.dim} items in {build_s:.1f} s, "
                f"{index.memory_bytes / 2**20:.1f} MB")
        meta = {**bundle.meta, "ann": {**bundle.meta.get("ann", {}), **built}}
        atomic_write_json(tmp / "bundle.json", meta)
        write_manifest(tmp, backbone_identity=bundle.manifest.get("backbone"))
    return built


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link an unchanged bundle file into the new copy (files are replaced, never edited, in place)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
