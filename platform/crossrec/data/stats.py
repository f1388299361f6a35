"""Descriptive statistics of a dataset: per-domain sizes and user overlap between domains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossrec.data.dataset import Dataset


def domain_table(ds: Dataset) -> pd.DataFrame:
    """One row per domain (+ "all"): users, items, interactions, interactions per user, density."""
    counts = ds.counts()
    rows = [{"domain": d, **c} for d, c in counts["per_domain"].items()]
    rows.append({"domain": "all", "users": counts["users"], "items": counts["items"],
                 "interactions": counts["interactions"]})
    table = pd.DataFrame(rows, columns=["domain", "users", "items", "interactions"])
    table["per_user"] = table["interactions"] / table["users"].clip(lower=1)
    table["density"] = table["interactions"] / (table["users"] * table["items"]).clip(lower=1)
    return table


def user_overlap(ds: Dataset) -> pd.DataFrame:
    """(D, D) users active in both domains (diagonal: users of the domain)."""
    users, _ = pd.factorize(ds.interactions["user_id"])
    domains = pd.Categorical(ds.interactions["domain"], categories=ds.domains).codes
    present = np.zeros((users.max(initial=-1) + 1, len(ds.domains)), dtype=np.int64)
    present[users, domains] = 1
    return pd.DataFrame(present.T @ present, index=ds.domains, columns=ds.domains)
