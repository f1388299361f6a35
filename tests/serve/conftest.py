"""A small two-target bundle trained with the plain engine (no Ray), and the app over HTTP on local Ray."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

TARGETS = ("movies", "books")


def _train_bundle(out: Path, run_name: str, tower: dict, with_backbone: bool) -> Path:
    """Train one epoch of heads per target on a small synthetic dataset (plain engine, no Ray) and save a bundle;
    ``with_backbone``: record the backbone and the text side's identity (heads that read item text)."""
    from crossrec.data.split import split_target
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
    from crossrec.eval.model_scorer import training_popularity
    from crossrec.model.bundle import save_bundle
    from crossrec.train.config import TrainConfig
    from crossrec.train.engine import TargetDomainTrainer

    ds = generate_synthetic(SyntheticConfig(n_users=100, n_items=20, n_topics=4, max_interactions=25, seed=5))
    cfg = TrainConfig.from_dict({
        "run_name": run_name, "dataset": "unused", "targets": list(TARGETS), "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 10, **tower}},
        "optim": {"epochs": 1, "batch_size": 32},
    })
    models, popularity, identity = {}, {}, None
    for target in TARGETS:
        split = split_target(ds, target)
        trainer = TargetDomainTrainer(cfg, split, log=lambda _m: None)
        trainer.train_epoch()
        models[target] = trainer.model.eval()
        popularity[target] = training_popularity(split, trainer.model.catalogue.numpy())
        identity = trainer.text.identity if with_backbone else None
    meta = {"run_name": run_name, "model": cfg.model.model_dump(mode="json")}
    if with_backbone:
        meta["backbone"] = cfg.backbone.model_dump(mode="json")
    return save_bundle(out, split.item_index, models, popularity, meta, identity)


@pytest.fixture(scope="session")
def serve_bundle(tmp_path_factory) -> Path:
    """ID-only heads (no backbone needed to train or serve)."""
    return _train_bundle(tmp_path_factory.mktemp("bundle") / "bundle", "serve", {"use_text": False}, False)


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory) -> Path:
    """Like ``serve_bundle``, but heads that read item text (MiniLM base embeddings, no LoRA), trained with ID
    dropout so that text-only items rank on the catalogue's scale: what open items and catalogue updates need."""
    return _train_bundle(tmp_path_factory.mktemp("text-bundle") / "bundle", "serve-text", {"id_dropout": 0.5}, True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client(serve_bundle, local_ray):
    """An HTTP client of the composed app (deployed once per test module on the module's local Ray)."""
    from ray import serve

    from crossrec.serve.app import build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"bundle": str(serve_bundle), "max_history": 50, "max_body_bytes": 20_000}),
              name="crossrec", route_prefix="/")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
        yield c
    serve.shutdown()
