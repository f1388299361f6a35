"""Leave-one-out explanations: exact, batched, and pointing at the item that caused a recommendation."""

from __future__ import annotations

import numpy as np
import torch

from crossrec.model.config import ModelConfig
from crossrec.model.explain import leave_one_out, top_reasons
from crossrec.model.recommender import CrossRecModel

# items 1-6 in domain 1 (source), 7-12 in domain 2 (target T)
ITEM_DOMAIN = torch.tensor([0] + [1] * 6 + [2] * 6)


def _model(seed: int = 0) -> CrossRecModel:
    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict({"tower": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_len": 6, "dropout": 0.0,
                                           "use_text": False}, "fusion": {"hidden": 16, "dropout": 0.0}})
    return CrossRecModel(cfg, ITEM_DOMAIN, n_domains=2, target_domain=2, text_dim=1).eval()


def test_weights_are_the_exact_score_change_of_removing_each_item() -> None:
    model = _model()
    items, domains = np.array([1, 8, 3, 4, 9]), np.array([1, 2, 1, 1, 2])
    cat = model.catalogue_vectors()
    expl = leave_one_out(model, items, domains, cat[:3])
    assert expl.positions.tolist() == [0, 1, 2, 3, 4] and expl.weights.shape == (5, 3)

    def score(its, doms):
        q = model.user_vectors(torch.as_tensor(its)[None], torch.as_tensor(doms)[None])
        return model.scores(q, cat[:3])[0].detach().numpy()

    full = score(items, domains)
    assert np.allclose(expl.scores, full, atol=1e-5)
    for p in range(5):
        without = score(np.delete(items, p), np.delete(domains, p))
        assert np.allclose(expl.weights[p], full - without, atol=1e-5)


def test_removing_the_only_usable_item_gives_no_weight() -> None:
    model = _model()
    expl = leave_one_out(model, np.array([2]), np.array([1]), model.catalogue_vectors()[:1])
    assert np.isnan(expl.weights).all()
    assert top_reasons(expl, 3) == [[]]


def test_explanation_points_at_the_planted_item() -> None:
    """Train a model where target item 10 always follows source item 5; a history holding 5 among unrelated
    items must get 10 recommended because of 5."""
    torch.manual_seed(0)
    model = _model(seed=1).train()
    rng = np.random.default_rng(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        items, domains, labels = [], [], []
        for _row in range(32):
            hist = list(rng.choice([1, 2, 3, 4, 6], size=4))
            planted = rng.random() < 0.5
            if planted:
                hist[rng.integers(0, 4)] = 5
            nxt = 10 if planted else int(rng.choice([7, 8, 9, 11, 12]))
            items.append(hist)
            domains.append([1] * 4)
            labels.append([-100, -100, -100, nxt - 7])
        loss = model.loss(torch.tensor(items), torch.tensor(domains), torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    items, domains = np.array([2, 5, 3, 1]), np.array([1, 1, 1, 1])
    cat = model.catalogue_vectors()
    q = model.user_vectors(torch.as_tensor(items)[None], torch.as_tensor(domains)[None])
    assert int(model.scores(q, cat).argmax()) == 3  # catalogue position of item 10
    reasons = top_reasons(leave_one_out(model, items, domains, cat[3:4]), n=2)[0]
    assert reasons[0][0] == 1 and reasons[0][1] > 0  # position 1 holds the planted item 5
