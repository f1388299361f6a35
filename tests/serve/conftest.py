"""A small two-target bundle trained with the plain engine (no Ray), and the app over HTTP on local Ray."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

TARGETS = ("movies", "books")


@pytest.fixture(scope="session")
def serve_bundle(tmp_path_factory) -> Path:
    from crossrec.data.split import split_target
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
    from crossrec.eval.model_scorer import training_popularity
    from crossrec.model.bundle import save_bundle
    from crossrec.train.config import TrainConfig
    from crossrec.train.engine import TargetDomainTrainer

    ds = generate_synthetic(SyntheticConfig(n_users=100, n_items=20, n_topics=4, max_interactions=25, seed=5))
    cfg = TrainConfig.from_dict({
        "run_name": "serve", "dataset": "unused", "targets": list(TARGETS), "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 10, "use_text": False}},
        "optim": {"epochs": 1, "batch_size": 32},
    })
    models, popularity = {}, {}
    for target in TARGETS:
        split = split_target(ds, target)
        trainer = TargetDomainTrainer(cfg, split, log=lambda _m: None)
        trainer.train_epoch()
        models[target] = trainer.model.eval()
        popularity[target] = training_popularity(split, trainer.model.catalogue.numpy())
    meta = {"run_name": "serve", "model": cfg.model.model_dump(mode="json")}
    return save_bundle(tmp_path_factory.mktemp("bundle") / "bundle", split.item_index, models, popularity, meta, None)


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory) -> Path:
    """Like ``serve_bundle``, but heads that read item text (MiniLM base embeddings, no LoRA), trained with ID
    dropout so that text-only items rank on the catalogue's scale: what open items and catalogue updates need."""
    from crossrec.data.split import split_target
    from crossrec.data.synthetic import SyntheticConfig, generate_synthetic
    from crossrec.eval.model_scorer import training_popularity
    from crossrec.model.bundle import save_bundle
    from crossrec.train.config import TrainConfig
    from crossrec.train.engine import TargetDomainTrainer

    ds = generate_synthetic(SyntheticConfig(n_users=100, n_items=20, n_topics=4, max_interactions=25, seed=5))
    cfg = TrainConfig.from_dict({
        "run_name": "serve-text", "dataset": "unused", "targets": list(TARGETS), "lora": None,
        "model": {"tower": {"d_model": 16, "n_layers": 1, "max_len": 10, "id_dropout": 0.5}},
        "optim": {"epochs": 1, "batch_size": 32},
    })
    models, popularity, identity = {}, {}, None
    for target in TARGETS:
        split = split_target(ds, target)
        trainer = TargetDomainTrainer(cfg, split, log=lambda _m: None)
        trainer.train_epoch()
        models[target] = trainer.model.eval()
        popularity[target] = training_popularity(split, trainer.model.catalogue.numpy())
        identity = trainer.text.identity
    meta = {"run_name": "serve-text", "model": cfg.model.model_dump(mode="json"),
            "backbone": cfg.backbone.model_dump(mode="json")}
    return save_bundle(tmp_path_factory.mktemp("text-bundle") / "bundle", split.item_index, models, popularity, meta,
                       identity)


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
