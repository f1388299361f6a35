"""CrossRecModel: shapes, causality, cold users, transfer on/off, fusion variants, learning."""

from __future__ import annotations

import pytest
import torch

from crossrec.errors import ModelInputError
from crossrec.model.config import ModelConfig
from crossrec.model.recommender import IGNORE_LABEL, CrossRecModel

# 3 domains: items 1-10 domain 1, 11-18 domain 2 (the target), 19-23 domain 3.
ITEM_DOMAIN = torch.tensor([0] + [1] * 10 + [2] * 8 + [3] * 5)
TARGET = 2
TEXT_DIM = 16


def make_model(variant: str = "gate", transfer: bool = True, max_len: int = 6, seed: int = 0) -> CrossRecModel:
    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict(
        {"tower": {"d_model": 32, "max_len": max_len, "dropout": 0.0},
         "fusion": {"variant": variant, "transfer": transfer, "dropout": 0.0}}
    )
    model = CrossRecModel(cfg, ITEM_DOMAIN, n_domains=3, target_domain=TARGET, text_dim=TEXT_DIM)
    model.item_tower.set_text_table(torch.randn(len(ITEM_DOMAIN), TEXT_DIM))
    return model.eval()


def hist(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    items = torch.tensor(rows)
    return items, ITEM_DOMAIN[items]


@pytest.mark.parametrize("variant", ["gate", "attention", "sum"])
def test_shapes_and_catalogue(variant: str) -> None:
    model = make_model(variant)
    items, domains = hist([[0, 0, 1, 12, 3, 13], [1, 2, 3, 4, 5, 6]])
    users = model.user_vectors(items, domains)
    assert users.shape == (2, 32) and users.dtype == torch.float32
    assert model.n_catalogue == 8
    assert torch.equal(model.catalogue, torch.arange(11, 19))
    scores = model.score_catalogue(items, domains)
    assert scores.shape == (2, 8)
    assert torch.all(scores.abs() <= 1 / model.cfg.fusion.temperature + 1e-4)  # cosine / temperature


@pytest.mark.parametrize("variant", ["gate", "attention", "sum"])
def test_cold_user_with_only_source_history_is_ranked(variant: str) -> None:
    model = make_model(variant)
    items, domains = hist([[0, 0, 0, 1, 2, 20]])  # no target-domain item at all
    interests = model.encode_interests(items, domains).last()
    assert not bool(interests.has_target.any())
    assert torch.count_nonzero(interests.target) == 0
    scores = model.score_catalogue(items, domains)
    assert torch.isfinite(scores).all()


def test_empty_history_is_a_clear_error() -> None:
    model = make_model()
    items, domains = hist([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 12]])
    with pytest.raises(ModelInputError, match=r"no usable history for batch rows \[0\]"):
        model.user_vectors(items, domains)


def test_without_transfer_source_items_are_ignored() -> None:
    model = make_model(transfer=False)
    a = model.user_vectors(*hist([[1, 12, 2, 13, 3, 4]]))
    b = model.user_vectors(*hist([[5, 12, 6, 13, 7, 8]]))  # same target items, other source items
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ModelInputError):  # source-only history is empty for a no-transfer model
        model.user_vectors(*hist([[1, 2, 3, 4, 5, 6]]))


def test_with_transfer_source_items_matter() -> None:
    model = make_model(transfer=True)
    a = model.user_vectors(*hist([[1, 12, 2, 13, 3, 4]]))
    b = model.user_vectors(*hist([[5, 12, 6, 13, 7, 8]]))
    assert not torch.allclose(a, b, atol=1e-4)


def test_encoder_is_causal() -> None:
    model = make_model()
    items, domains = hist([[1, 12, 2, 13, 3, 4]])
    before = model.fuse(model.encode_interests(items, domains))
    items2 = items.clone()
    items2[0, -1] = 19
    after = model.fuse(model.encode_interests(items2, ITEM_DOMAIN[items2]))
    assert torch.allclose(before[:, :-1], after[:, :-1], atol=1e-6)  # earlier positions unchanged
    assert not torch.allclose(before[:, -1], after[:, -1], atol=1e-4)


def test_live_text_rows_carry_gradient_and_loss_learns() -> None:
    model = make_model(max_len=4).train()
    items, domains = hist([[1, 11, 2, 12], [3, 13, 4, 14]])
    labels = torch.tensor([[0, 1, 1, IGNORE_LABEL], [2, 3, 3, IGNORE_LABEL]])  # catalogue positions
    live_text = torch.randn(2, TEXT_DIM, requires_grad=True)
    loss = model.loss(items, domains, labels, torch.tensor([0, 3]), live_text)
    loss.backward()
    assert live_text.grad is not None and torch.count_nonzero(live_text.grad) > 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(model.loss(items, domains, labels).detach())
    for _ in range(60):
        opt.zero_grad()
        model.loss(items, domains, labels).backward()
        opt.step()
    assert float(model.loss(items, domains, labels)) < 0.5 * first


def test_config_rejects_bad_values_with_the_value_quoted() -> None:
    from crossrec.errors import ConfigError

    with pytest.raises(ConfigError, match=r"d_model \(30\) must be divisible by n_heads \(4\)"):
        ModelConfig.from_dict({"tower": {"d_model": 30, "n_heads": 4}})
    with pytest.raises(ConfigError, match="fusion.variant"):
        ModelConfig.from_dict({"fusion": {"variant": "concat"}})
    with pytest.raises(ConfigError, match="tower.layers"):
        ModelConfig.from_dict({"tower": {"layers": 2}})


def test_config_round_trips_through_yaml_and_pickle(tmp_path) -> None:
    import pickle

    cfg = ModelConfig.from_dict({"fusion": {"variant": "sum", "alpha": 0.3}})
    path = cfg.to_yaml(tmp_path / "model.yaml")
    assert ModelConfig.from_yaml(path) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_next_item_objective_trains_source_items_and_caps_positions() -> None:
    model = make_model().train()
    items, domains = hist([[1, 2, 12, 3, 20, 13], [4, 5, 6, 7, 8, 9]])
    labels = torch.full_like(items, IGNORE_LABEL)
    nxt = torch.cat([items[:, 1:], torch.full((2, 1), IGNORE_LABEL)], dim=1)  # next item in any domain
    target_only = model.loss(items, domains, labels)
    assert float(target_only) == 0.0  # no target label: nothing to learn without the auxiliary task
    loss = model.loss(items, domains, labels, next_items=nxt, next_item_weight=1.0)
    assert float(loss) > 0
    loss.backward()
    grad = model.item_tower.id_emb.weight.grad
    assert grad[[5, 6, 7, 8, 9]].abs().sum() > 0  # source-domain items learn from it
    torch.manual_seed(0)
    capped = model.next_item_loss(model.encode_interests(items, domains), nxt, max_positions=3)
    assert torch.isfinite(capped)
    no_transfer = make_model(transfer=False).train()
    assert float(no_transfer.loss(items, domains, labels, next_items=nxt, next_item_weight=1.0)) == 0.0


def test_gate_bias_starts_the_gate_closed_and_source_dropout_fuses_target_in_place_of_source() -> None:
    from crossrec.model.recommender import Interests

    torch.manual_seed(0)
    cfg = ModelConfig.from_dict({"tower": {"d_model": 32}, "fusion": {"gate_bias": -6.0, "source_dropout": 0.99,
                                                                     "dropout": 0.0}})
    model = CrossRecModel(cfg, ITEM_DOMAIN, n_domains=3, target_domain=TARGET, text_dim=TEXT_DIM)
    s, t, d = torch.randn(4, 3, 32), torch.randn(4, 3, 32), torch.zeros(1, 1, 32)
    has_t = torch.tensor([[False, True, True]] * 4)
    fused = model.fusion(s, t, d, has_t)
    assert torch.allclose(fused[:, 0], s[:, 0])  # cold prefix: the source interest alone
    assert torch.allclose(fused[:, 1:], t[:, 1:], atol=0.1)  # closed gate: almost the target interest
    # source dropout only acts in training and never on cold positions
    interests = Interests(source=s, target=t, domain=d, has_target=has_t, valid=torch.ones(4, 3, dtype=torch.bool))
    model.eval()
    assert not torch.allclose(model.fuse(interests)[:, 1:], model.out_ln(t[:, 1:]), atol=1e-3)
    model.train()
    trained = model.fuse(interests)
    assert torch.allclose(trained[:, 0], model.out_ln(model.fusion(s, t, d, has_t))[:, 0])
    assert torch.allclose(trained[:, 1:], model.out_ln(t[:, 1:]), atol=1e-4)  # 0.99: (almost) every one replaced
