"""Deterministic synthetic multi-domain data with cross-domain, textual and sequential signal.

Generative story (all draws from one ``numpy`` Generator seeded by ``cfg.seed``):

- ``n_topics`` latent topics, each with a small vocabulary of made-up words.
- Every domain has ``n_items`` items; item ``i`` has one topic (every topic has items in every domain) and a
  Zipf-like popularity. Its text names its domain and carries words of its topic, so a text encoder finds
  the topic (and the topic is shared across domains: that is what transfers).
- Every user has topic interests (Dirichlet) shared by all domains and a domain activity profile; some
  (user, domain) pairs are rare (few interactions: cold) or absent.
- A user's sequence is a topic Markov chain: the next interaction keeps the current topic with probability
  ``topic_stickiness``, otherwise re-draws it from the interests. Its domain follows the activity profile and
  the item is drawn by popularity inside (domain, topic). Repeated (user, item) pairs are dropped, so a
  sequence model that reads recent topics beats popularity.
- Timestamps increase along each sequence; a fraction ``tie_rate`` of steps share the previous second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from crossrec.config import StrictModel
from crossrec.data.dataset import Dataset, make_dataset

SYLLABLES = ["ka", "lo", "mi", "ru", "sen", "ta", "vo", "zel", "pra", "dun", "ki", "mor", "bel", "nu", "ost", "ri"]


class SyntheticConfig(StrictModel):
    """Size and signal strengths of :func:`generate_synthetic` (small defaults: a quickstart in seconds)."""

    name: str = "synthetic"
    n_users: int = Field(300, gt=0)
    domains: list[str] = Field(default_factory=lambda: ["books", "movies", "music", "games"], min_length=1)
    n_items: int = Field(60, gt=0, description="Items per domain.")
    n_topics: int = Field(6, gt=0)
    words_per_topic: int = Field(8, gt=1)
    min_interactions: int = Field(8, gt=0, description="Per user, before duplicates are dropped.")
    max_interactions: int = Field(60, gt=0)
    topic_stickiness: float = Field(0.75, ge=0, le=1, description="P(next interaction keeps the topic).")
    interest_concentration: float = Field(0.3, gt=0, description="Dirichlet alpha of topic interests.")
    popularity_exponent: float = Field(0.8, ge=0, description="Zipf exponent of item popularity.")
    rare_domain_rate: float = Field(0.3, ge=0, le=1, description="P(a user is rarely active in a domain).")
    absent_domain_rate: float = Field(0.1, ge=0, le=1, description="P(a user never uses a domain).")
    tie_rate: float = Field(0.05, ge=0, le=1, description="P(an interaction shares the previous second).")
    start_time: int = 1_600_000_000
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        if self.max_interactions < self.min_interactions:
            raise ValueError(f"max_interactions ({self.max_interactions}) < min_interactions ({self.min_interactions})")
        if self.n_items < self.n_topics:
            raise ValueError(f"n_items ({self.n_items}) must be >= n_topics ({self.n_topics}): every topic needs items")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains must be distinct, got {self.domains}")
        return self


def _vocabulary(rng: np.random.Generator, n_topics: int, n_words: int) -> np.ndarray:
    """(n_topics, n_words) distinct made-up words."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n_topics * n_words:
        w = "".join(rng.choice(SYLLABLES, size=rng.integers(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return np.array(words, dtype=object).reshape(n_topics, n_words)


def _items(cfg: SyntheticConfig, rng: np.random.Generator, vocab: np.ndarray) -> pd.DataFrame:
    """Items sorted by (domain, topic); columns item_id, domain, topic, popularity, text."""
    rows = []
    for d, domain in enumerate(cfg.domains):
        topic = rng.permutation(np.arange(cfg.n_items) % cfg.n_topics)
        popularity = (1.0 + rng.permutation(cfg.n_items)) ** -cfg.popularity_exponent
        picks = rng.integers(0, cfg.words_per_topic, size=(cfg.n_items, 3))
        words = vocab[topic[:, None], picks]
        text = [f"{w[0].capitalize()} {w[1]} — a {domain} item about {w[2]} and {w[1]}." for w in words]
        rows.append(pd.DataFrame({
            "item_id": [f"{domain}_{i:04d}" for i in range(cfg.n_items)], "domain": domain,
            "topic": topic, "popularity": popularity, "text": text, "domain_no": d,
        }))
    return pd.concat(rows, ignore_index=True).sort_values(["domain_no", "topic"], kind="stable").reset_index(drop=True)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (B, K) -> (B,) int64."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _user_profiles(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Topic interests (U, K), domain activity (U, D) and sequence lengths (U,)."""
    interests = rng.dirichlet(np.full(cfg.n_topics, cfg.interest_concentration), size=cfg.n_users)
    activity = rng.dirichlet(np.full(len(cfg.domains), 2.0), size=cfg.n_users)
    activity[rng.random(activity.shape) < cfg.rare_domain_rate] *= 0.03
    activity[rng.random(activity.shape) < cfg.absent_domain_rate] = 0.0
    dead = activity.sum(axis=1) == 0
    activity[dead, rng.integers(0, len(cfg.domains), dead.sum())] = 1.0
    lengths = rng.integers(cfg.min_interactions, cfg.max_interactions + 1, size=cfg.n_users)
    return interests, activity, lengths


def generate_synthetic(cfg: SyntheticConfig | None = None) -> Dataset:
    """Generate a :class:`Dataset` (deterministic for a given config); see the module docstring."""
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    vocab = _vocabulary(rng, cfg.n_topics, cfg.words_per_topic)
    items = _items(cfg, rng, vocab)
    interests, activity, lengths = _user_profiles(cfg, rng)

    # Items sorted by group g = domain * K + topic: draw inside a group with one searchsorted on a cumulative
    # popularity that rises from g to g + 1 within group g.
    group = items["domain_no"].to_numpy() * cfg.n_topics + items["topic"].to_numpy()
    pop = items["popularity"].to_numpy()
    group_total = np.bincount(group, weights=pop)
    cum = group + (np.cumsum(pop) - np.concatenate([[0], np.cumsum(group_total)])[group]) / group_total[group]

    n_steps = int(lengths.max())
    topic = _categorical(rng, interests)
    chosen = np.empty((cfg.n_users, n_steps), dtype=np.int64)
    for step in range(n_steps):  # vectorised over users
        redraw = rng.random(cfg.n_users) >= cfg.topic_stickiness
        topic = np.where(redraw, _categorical(rng, interests), topic)
        domain = _categorical(rng, activity)
        g = domain * cfg.n_topics + topic
        u = np.clip(rng.random(cfg.n_users), 1e-6, 1 - 1e-6)  # stay clear of group borders
        chosen[:, step] = np.searchsorted(cum, g + u, side="left")

    gaps = rng.exponential(3600.0, size=(cfg.n_users, n_steps)).astype(np.int64) + 1
    gaps[rng.random(gaps.shape) < cfg.tie_rate] = 0
    starts = cfg.start_time + rng.integers(0, 30 * 86400, size=cfg.n_users)
    times = starts[:, None] + np.cumsum(gaps, axis=1)

    keep = np.arange(n_steps)[None, :] < lengths[:, None]
    user = np.broadcast_to(np.arange(cfg.n_users)[:, None], keep.shape)[keep]
    inter = pd.DataFrame({"user": user, "item": chosen[keep], "timestamp": times[keep]})
    inter = inter.drop_duplicates(["user", "item"], keep="first")
    interactions = pd.DataFrame({
        "user_id": "u" + inter["user"].astype(str).str.zfill(5),
        "item_id": items["item_id"].to_numpy()[inter["item"].to_numpy()],
        "timestamp": inter["timestamp"].to_numpy(dtype=np.int64),
        "rating": np.float32(np.nan),
    })
    source = {"format": "synthetic", "config": cfg.model_dump()}
    return make_dataset(cfg.name, interactions, items.drop(columns=["domain_no", "popularity"]), source=source)
