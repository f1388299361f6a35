"""The plain-PyTorch training engine (no Ray): learning, checkpoint round trip, config errors."""

from __future__ import annotations

import pytest

from crossrec.errors import ConfigError
from crossrec.train.checkpoint import load_checkpoint, save_checkpoint
from crossrec.train.config import TrainConfig
from crossrec.train.engine import TargetDomainTrainer


@pytest.fixture
def make_trainer(train_config_dict):
    def make(split, tmp_path, **overrides) -> TargetDomainTrainer:
        cfg = TrainConfig.from_dict(train_config_dict(tmp_path / "data", tmp_path / "runs", **overrides))
        return TargetDomainTrainer(cfg, split, log=lambda _m: None)

    return make


def test_training_lowers_loss_and_beats_popularity(tiny_split, tmp_path, make_trainer) -> None:
    from crossrec.eval.baselines.mostpop import MostPop
    from crossrec.eval.runner import evaluate

    trainer = make_trainer(tiny_split, tmp_path, **{"optim.epochs": 8})
    first = trainer.train_epoch().loss
    for _ in range(7):
        last = trainer.train_epoch()
    assert last.loss < first
    assert trainer.epoch == 8 and last.samples_per_s > 0
    ours = trainer.evaluate("valid").metrics["overall"]["ndcg@10"]
    pop = MostPop()
    pop.fit(tiny_split)
    theirs = evaluate(pop, tiny_split, role="valid", progress=False).metrics["overall"]["ndcg@10"]
    assert ours > theirs


def test_checkpoint_round_trip_restores_scores_and_counters(tiny_split, tmp_path, make_trainer) -> None:
    a = make_trainer(tiny_split, tmp_path)
    a.train_epoch()
    a.history.append({"valid_ndcg_at_10": 0.1})
    save_checkpoint(a, tmp_path / "ckpt")
    b = make_trainer(tiny_split, tmp_path)
    load_checkpoint(b, tmp_path / "ckpt")
    assert (b.epoch, b.global_step, b.history) == (a.epoch, a.global_step, a.history)
    ra = a.evaluate("valid").metrics["overall"]
    rb = b.evaluate("valid").metrics["overall"]
    assert ra == pytest.approx(rb)
    # The restored optimizer, data order and dropout RNG continue identically (the global torch RNG is
    # shared by both trainers in this process, so reset it to the checkpoint's state before each).
    import torch

    rng = torch.get_rng_state()
    loss_a = a.train_epoch().loss
    torch.set_rng_state(rng)
    assert b.train_epoch().loss == pytest.approx(loss_a, rel=1e-5)


def test_checkpoint_holds_no_pickles(tiny_split, tmp_path, make_trainer) -> None:
    a = make_trainer(tiny_split, tmp_path)
    save_checkpoint(a, tmp_path / "ckpt")
    suffixes = {p.suffix for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    assert suffixes <= {".safetensors", ".json"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"optim.epochs": -1}, r"optim.epochs: Input should be greater than 0 \(got -1\)"),
        ({"run_name": "a/b"}, "run_name must be a plain name"),
        ({"targets": []}, "targets"),
        ({"scaling.gpus_per_worker": 1}, "gpus_per_worker is 1.0 but use_gpu is false"),
        ({"optim.lrr": 0.1}, r"optim.lrr: Extra inputs are not permitted"),
        ({"model": {"fusion": {"variant": "max"}}}, "model.fusion.variant"),
    ],
)
def test_config_errors_name_the_field(tmp_path, override, message, train_config_dict) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(train_config_dict(tmp_path, tmp_path, **override), source="cfg.yaml")


def test_unknown_target_is_a_clear_error(tiny_dataset_dir) -> None:
    from crossrec.errors import CrossrecError
    from crossrec.train.data_access import load_split_for

    with pytest.raises(CrossrecError, match="unknown target domain"):
        load_split_for(str(tiny_dataset_dir), "podcasts")


def test_no_transfer_reads_truly_target_only_history(tiny_split, tmp_path, train_config_dict) -> None:
    """The no-transfer ablation trains on windows of target items alone and is evaluated on the user's last
    ``max_len`` *target* items, however far back in the merged history they are (not on the target items
    that happen to fall inside a ``max_len`` window of all domains)."""
    import numpy as np

    from crossrec.eval.protocol import make_history_batch
    from crossrec.tune.config import apply_params

    def trainer_with(**params) -> TargetDomainTrainer:
        base = TrainConfig.from_dict(train_config_dict(tmp_path / "data", tmp_path / "runs"))
        return TargetDomainTrainer(apply_params(base, {"model.tower.max_len": 4, **params}), tiny_split,
                                   log=lambda _m: None)

    trainer = trainer_with(**{"model.fusion.transfer": False})
    target = trainer.target_domain
    w = trainer.windows
    assert len(w) > 0 and np.all((w.domains == target) | (w.items == 0))
    assert trainer.model.history_window is None
    with_transfer = trainer_with()
    assert with_transfer.model.history_window == 4
    assert np.any((with_transfer.windows.domains != target) & (with_transfer.windows.items > 0))
    # a user with more than 4 items after an early target item still has it in view without transfer
    rows = tiny_split.role("valid")
    full = make_history_batch(tiny_split, rows, None)
    window = make_history_batch(tiny_split, rows, 4)
    assert ((full.domains == target).sum(1) > (window.domains == target).sum(1)).any()


def test_item_cold_start_training_leaves_hidden_items_to_their_text(tiny_split, tmp_path, make_trainer) -> None:
    """On an item-cold-start split the windows never hold a hidden item, the softmaxes leave them out, their ID
    rows stay zero through training, and the scorer ranks them by text alone (their ID rows do not matter)."""
    import numpy as np
    import torch

    from crossrec.data.cold_start import hide_target_items

    split = hide_target_items(tiny_split, 0.25, seed=0)
    tower = {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 12, "id_min_interactions": 1, "id_dropout": 0.25}
    trainer = make_trainer(split, tmp_path, model={"tower": tower, "fusion": {"hidden": 16}},
                           **{"backbone.max_length": 16})
    hidden = torch.as_tensor(split.hidden_items)
    assert not np.isin(trainer.windows.items, split.hidden_items).any()
    assert trainer.model.excluded[hidden].all() and int(trainer.model.excluded.sum()) == len(hidden)
    assert not trainer.model.item_tower.has_id[hidden].any()
    trainer.train_epoch()
    ids = trainer.model.item_tower.id_emb.weight.detach()  # same storage: rewritten below
    assert float(ids[hidden].abs().sum()) == 0.0 and float(ids[split.target_items].abs().sum()) > 0
    before = trainer.evaluate("test").metrics
    assert before["new_items"]["n_users"] > 0
    with torch.no_grad():
        ids[hidden] = torch.randn(len(hidden), ids.shape[1])
    assert trainer.evaluate("test").metrics == before
