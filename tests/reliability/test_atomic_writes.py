"""A crash in the middle of writing a checkpoint or a bundle leaves the previous one in place and loadable,
and no half-written directory next to it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch


def digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(fault_dataset, tmp_path, small_train_config,
                                                               monkeypatch) -> None:
    import crossrec.train.checkpoint as ckpt
    from crossrec.train.config import TrainConfig
    from crossrec.train.data_access import load_split_for
    from crossrec.train.engine import TargetDomainTrainer

    cfg = TrainConfig.from_dict(small_train_config(fault_dataset, tmp_path / "runs", "a", 2, max_failures=0))
    split = load_split_for(cfg.dataset, "movies")
    trainer = TargetDomainTrainer(cfg, split, log=lambda _m: None)
    trainer.train_epoch()
    path = ckpt.save_checkpoint(trainer, tmp_path / "ckpt")
    before = digest(path)
    heads_epoch1 = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    with torch.no_grad():  # "epoch 2": other weights, another counter
        for param in trainer.model.parameters():
            param.add_(0.01)
    trainer.epoch += 1

    def disk_full(*_args, **_kwargs):  # heads and text table are already written when this runs
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_optimizer", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save_checkpoint(trainer, path)
    monkeypatch.undo()

    assert digest(path) == before  # not a single file of the old checkpoint was touched
    assert [p.name for p in tmp_path.iterdir() if p.name != "runs"] == ["ckpt"]  # no temporary left over
    fresh = TargetDomainTrainer(cfg, split, log=lambda _m: None)
    ckpt.load_checkpoint(fresh, path)
    assert fresh.epoch == 1
    for name, value in fresh.model.state_dict().items():
        assert torch.equal(value, heads_epoch1[name]), name

    ckpt.save_checkpoint(trainer, path)  # and the next write goes through
    assert ckpt.read_trainer_state(path)["epoch"] == 2


def test_bundle_write_failure_keeps_the_previous_bundle(tmp_path, monkeypatch) -> None:
    import crossrec.benchmarks.bad_inputs as ri
    import crossrec.model.bundle as bundle_mod
    from crossrec.model.bundle import ModelBundle, save_bundle

    ws = ri.Workspace(tmp_path / "ws")
    good = ws.bundle()
    before = digest(good)
    loaded = ModelBundle.load(good)

    def crash(*_args, **_kwargs):
        raise RuntimeError("killed while writing the manifest")

    monkeypatch.setattr(bundle_mod, "write_manifest", crash)
    tm = loaded.targets["movies"]
    with pytest.raises(RuntimeError, match="killed"):
        save_bundle(good, loaded.item_index, {"movies": tm.model}, {"movies": tm.popularity}, {"model": {}}, None)
    assert digest(good) == before
    assert sorted(p.name for p in good.parent.iterdir() if "bundle" in p.name) == ["bundle"]
    assert ModelBundle.load(good).version == loaded.version
