"""A small two-target bundle trained with the plain engine (no Ray), shared by the serving tests."""

from __future__ import annotations

from pathlib import Path

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
