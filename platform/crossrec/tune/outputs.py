"""Sweep outputs: results table (CSV), best config as a TrainConfig YAML, and a PNG plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crossrec.eval.epoch_loop import VALID_SCORE
from crossrec.eval.metrics import RECALL_AT_10
from crossrec.train.config import TrainConfig
from crossrec.tune.config import apply_params
from crossrec.utils.extras import require

METRIC = VALID_SCORE


def results_table(df: pd.DataFrame, space_keys: list[str]) -> pd.DataFrame:
    """One row per trial: id, params, best valid metrics, epochs, seconds."""
    cols = {"trial_id": "trial"}
    for key in space_keys:
        cols[f"config/{key}"] = key
    for m in (METRIC, RECALL_AT_10.logged("valid"), "epoch", "trial_seconds"):
        if m in df.columns:
            cols[m] = m
    table = df[[c for c in cols if c in df.columns]].rename(columns=cols)
    return table.sort_values(METRIC, ascending=False).reset_index(drop=True)


def write_best_config(base: TrainConfig, params: dict, path: Path, run_name: str) -> TrainConfig:
    best = apply_params(base, params).model_copy(update={"run_name": run_name})
    best.to_yaml(path)
    return best


def plot(table: pd.DataFrame, path: Path, variant_key: str = "model.fusion.variant") -> None:
    matplotlib = require("matplotlib", "sweep.png")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ordered = table.reset_index(drop=True)
    ax1.bar(range(len(ordered)), ordered[METRIC], color="tab:blue")
    ax1.set_xlabel("trial (sorted by valid NDCG@10)")
    ax1.set_ylabel("valid NDCG@10")
    ax1.set_title("valid NDCG@10 per trial")
    if variant_key in table.columns:
        groups = table.groupby(variant_key)[METRIC]
        names = list(groups.groups)
        ax2.boxplot([groups.get_group(n).to_numpy() for n in names], tick_labels=names)
        ax2.set_title("per fusion variant")
    else:
        ax2.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
