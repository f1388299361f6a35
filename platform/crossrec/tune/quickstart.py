"""The small sweep of ``crossrec quickstart``: 4 fast trials over fusion variants on the bundle's embeddings."""

from __future__ import annotations

from pathlib import Path

from crossrec.tune.config import SweepConfig
from crossrec.tune.run import run_sweep


def quickstart_sweep(bundle: Path, data_dir: Path, target: str, out: Path) -> dict:
    from crossrec.quickstart import quickstart_train_config

    base = quickstart_train_config(data_dir, out / "runs", target, epochs=3)
    cfg = SweepConfig(
        name="quickstart-sweep", target=target, base=base.model_dump(mode="json"), bundle=str(bundle),
        space={"model.fusion.variant": {"grid": ["gate", "attention", "sum"]},
               "optim.lr": {"loguniform": [5e-4, 5e-3]}},
        num_samples=1, search="random", scheduler={"type": "fifo"}, storage_path=str(out), seed=0,
    )
    result = run_sweep(cfg)
    return {"best_params": result.best_params, "best_config": str(result.best_config_path),
            "trials": len(result.table), "seconds": result.seconds}
