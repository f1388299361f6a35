"""Model options of the quality work: the per-domain target encoder, the ranking query (cosine / dot, the
next-item mix) and its serving split, ID dropout, clean candidates, the target-positions cap, and items that
training never saw (read and scored by their text alone, left out of the training softmaxes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossrec.errors import ConfigError
from crossrec.model.config import ModelConfig, TowerConfig
from crossrec.model.open_items import text_item_vectors
from crossrec.model.recommender import IGNORE_LABEL, CrossRecModel
from crossrec.model.towers import SubsequenceInterest
from crossrec.serve.inference import encode_batch, fuse_batch
from crossrec.serve.messages import HistoryBatch

ITEM_DOMAIN = torch.tensor([0] + [1] * 10 + [2] * 8 + [3] * 5)  # target domain 2 = items 11..18
TEXT_DIM = 16


def make_model(seed: int = 0, **over) -> CrossRecModel:
    torch.manual_seed(seed)
    tower = {"d_model": 16, "n_heads": 2, "max_len": 6, "dropout": 0.0, **over.pop("tower", {})}
    cfg = ModelConfig.from_dict({"tower": tower, "fusion": {"dropout": 0.0, **over.pop("fusion", {})}})
    model = CrossRecModel(cfg, ITEM_DOMAIN, n_domains=3, target_domain=2, text_dim=TEXT_DIM)
    model.item_tower.set_text_table(torch.randn(len(ITEM_DOMAIN), TEXT_DIM))
    return model.eval()


def test_target_sequence_state_is_the_target_only_encoding_at_each_position() -> None:
    from crossrec.model.config import TowerConfig

    torch.manual_seed(0)
    m = SubsequenceInterest(TowerConfig(d_model=8, n_heads=2, max_len=6, dropout=0.0)).eval()
    x = torch.randn(1, 6, 8)
    is_t = torch.tensor([[False, True, False, True, True, False]])
    out, has = m(x, x, is_t)
    alone = m.encoder(torch.cat([torch.zeros(1, 3, 8), x[:, [1, 3, 4]]], 1),
                      torch.tensor([[False, False, False, True, True, True]]))
    assert has.tolist() == [[False, True, True, True, True, True]]
    assert float(out[0, 0].abs().sum()) == 0.0  # nothing before the first target item
    for merged, packed in [(1, 3), (2, 3), (3, 4), (4, 5), (5, 5)]:
        torch.testing.assert_close(out[0, merged], alone[0, packed], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("over", [
    {"tower": {"target_encoder": "sequence"}},
    {"fusion": {"next_item_mix": 0.7}},
    {"fusion": {"score": "dot"}},
    {"fusion": {"score": "dot", "next_item_mix": 0.5}, "tower": {"target_encoder": "sequence"}},
    {"tower": {"target_encoder": "sequence", "source_encoder": "separate"}, "fusion": {"gate_bias": -3.0}},
])
def test_serving_split_ranks_like_the_model(over: dict) -> None:
    """Encoder stage -> fusion stage -> one dot product gives the model's own scores (up to the query scale)."""
    model = make_model(**over)
    rows = [[1, 12, 3, 13, 2, 4], [5, 6, 7, 8, 9, 20]]
    items = torch.tensor(rows)
    direct = model.score_catalogue(items, ITEM_DOMAIN[items])  # (2, 8)

    class Heads:
        pass

    heads = Heads()
    heads.model = model
    batch = HistoryBatch.pack("v", "t", [(np.array(r), ITEM_DOMAIN[torch.tensor(r)].numpy()) for r in rows])
    queries = torch.from_numpy(fuse_batch(heads, encode_batch(heads, batch)).queries)
    served = model.scores(queries, model.catalogue_vectors())
    torch.testing.assert_close(served, direct, atol=1e-4, rtol=1e-4)
    assert torch.equal(served.argsort(dim=1, descending=True), direct.argsort(dim=1, descending=True))
    assert model.ranks_by_cosine == (model.cfg.fusion.score == "cosine")


def test_next_item_mix_adds_the_encoders_own_cosine() -> None:
    plain, mixed = make_model(), make_model(fusion={"next_item_mix": 0.5})
    items = torch.tensor([[1, 12, 3, 13, 2, 4]])
    domains = ITEM_DOMAIN[items]
    last = mixed.encode_interests(items, domains).last()
    u, h = mixed.fuse(last)[:, 0], last.hidden[:, 0]
    cat = mixed.catalogue_vectors()
    want = torch.nn.functional.cosine_similarity(u[:, None], cat[None], dim=-1) / 0.1
    want = want + 0.5 * torch.nn.functional.cosine_similarity(h[:, None], cat[None], dim=-1) / 0.1
    torch.testing.assert_close(mixed.score_catalogue(items, domains), want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain.score_catalogue(items, domains), want)


def test_id_dropout_and_candidate_dropout_only_in_training() -> None:
    model = make_model(tower={"id_dropout": 0.5, "dropout": 0.3, "candidate_dropout": False})
    idx = torch.arange(1, 24)
    model.train()
    torch.manual_seed(1)
    a, b = model.item_tower(idx), model.item_tower(idx)
    assert not torch.allclose(a, b)  # history side: dropout and ID dropout are on
    torch.testing.assert_close(model.item_tower(idx, candidates=True), model.item_tower(idx, candidates=True))
    model.eval()
    torch.testing.assert_close(model.item_tower(idx), model.item_tower(idx, candidates=True))
    # ID dropout falls back to text only: an item whose ID is dropped gets LN(W text)
    tower = model.item_tower
    text_only = tower.ln(tower.text_proj(tower.text_table[idx]))
    model.train()
    tower.dropout.p = 0.0
    torch.manual_seed(3)
    out = tower(idx)
    matches = torch.isclose(out, text_only, atol=1e-5).all(dim=1)
    assert 0 < int(matches.sum()) < len(idx)


def test_separate_source_encoder_ignores_the_interleaving_of_domains() -> None:
    """With both sides encoded apart, only each domain's own order matters; the merged encoder sees the mix."""
    interleaved = torch.tensor([[1, 12, 3, 13, 2, 14]])
    blocked = torch.tensor([[1, 3, 2, 12, 13, 14]])  # same per-domain orders, domains not interleaved
    for source_encoder, same in [("merged", False), ("separate", True)]:
        model = make_model(tower={"target_encoder": "sequence", "source_encoder": source_encoder})
        a = model.user_vectors(interleaved, ITEM_DOMAIN[interleaved])
        b = model.user_vectors(blocked, ITEM_DOMAIN[blocked])
        assert torch.allclose(a, b, atol=1e-5) is same, source_encoder
    reordered = torch.tensor([[3, 12, 1, 13, 2, 14]])  # the source order changes: so does the user vector
    assert not torch.allclose(model.user_vectors(reordered, ITEM_DOMAIN[reordered]), a, atol=1e-4)


def test_target_positions_cap_keeps_the_loss_finite_and_trainable() -> None:
    model = make_model(tower={"target_encoder": "sequence"}).train()
    items = torch.tensor([[1, 12, 3, 13, 2, 14], [5, 11, 7, 12, 9, 15]])
    labels = torch.tensor([[1, 2, 2, 3, 3, IGNORE_LABEL], [0, 1, 1, 4, 4, IGNORE_LABEL]])
    full = model.loss(items, ITEM_DOMAIN[items], labels)
    capped = model.loss(items, ITEM_DOMAIN[items], labels, target_positions=2)
    assert torch.isfinite(full) and torch.isfinite(capped)
    capped.backward()
    assert model.target_pool.encoder.pos_emb.weight.grad is not None

UNSEEN = (13, 17)  # catalogue items 11..18 of the target domain (2)
HISTORY = torch.tensor([[1, 11, 13, 4, 12, 17]])


def unseen_mask() -> torch.Tensor:
    mask = torch.zeros(len(ITEM_DOMAIN), dtype=torch.bool)
    mask[list(UNSEEN)] = True
    return mask


def test_unseen_items_are_scored_and_read_by_text_alone() -> None:
    model = make_model()
    model.item_tower.read_by_text(unseen_mask())
    domains = ITEM_DOMAIN[HISTORY]
    before = model.score_catalogue(HISTORY, domains)
    cols = [int(model.catalogue_position[i]) for i in UNSEEN]
    # the candidate vector of an unseen item is the open-item (text-only) vector of its text
    text = model.item_tower.text_table[list(UNSEEN)]
    torch.testing.assert_close(model.catalogue_vectors()[cols], text_item_vectors(model, text))
    with torch.no_grad():  # their ID rows were zeroed, and rewriting them changes nothing, in histories either
        assert float(model.item_tower.id_emb.weight[list(UNSEEN)].abs().sum()) == 0.0
        model.item_tower.id_emb.weight[list(UNSEEN)] = torch.randn(len(UNSEEN), 16)
    torch.testing.assert_close(model.score_catalogue(HISTORY, domains), before)
    with torch.no_grad():  # a trained item's ID row still counts
        model.item_tower.id_emb.weight[12] += torch.randn(16)  # (a constant shift would vanish in the LN)
    assert not torch.allclose(model.score_catalogue(HISTORY, domains), before)
    model.item_tower.read_by_text(None)  # back to text + ID for every item
    assert not torch.allclose(model.catalogue_vectors()[cols], text_item_vectors(model, text))


def test_excluded_items_get_no_gradient_and_leave_the_softmax() -> None:
    model = make_model(tower={"id_dropout": 0.3, "candidate_id_dropout": True}).train()
    model.item_tower.read_by_text(unseen_mask())
    model.exclude_from_training(unseen_mask())
    items = torch.tensor([[1, 11, 3, 12, 2, 14], [5, 11, 7, 12, 9, 15]])
    labels = torch.tensor([[0, 1, 1, 3, 3, IGNORE_LABEL], [0, 1, 1, 4, 4, IGNORE_LABEL]])  # never 13 or 17
    next_items = torch.tensor([[11, 3, 12, 2, 14, IGNORE_LABEL], [11, 7, 12, 9, 15, IGNORE_LABEL]])
    loss = model.loss(items, ITEM_DOMAIN[items], labels, next_items=next_items, next_item_weight=0.5)
    assert torch.isfinite(loss)
    loss.backward()
    grad = model.item_tower.id_emb.weight.grad
    assert float(grad[list(UNSEEN)].abs().sum()) == 0.0 and float(grad[[11, 12, 14]].abs().sum()) > 0
    # the target softmax equals one over the catalogue without the excluded columns
    model.eval()
    full = model.loss(items, ITEM_DOMAIN[items], labels)
    model.exclude_from_training(None)
    assert float(model.loss(items, ITEM_DOMAIN[items], labels)) > float(full)  # more negatives, larger loss


def test_candidate_id_dropout_gives_text_only_candidates_in_training() -> None:
    model = make_model(tower={"id_dropout": 0.5, "candidate_dropout": False, "candidate_id_dropout": True}).train()
    tower = model.item_tower
    idx = torch.arange(11, 19)
    text_only = tower.ln(tower.text_proj(tower.text_table[idx]))
    torch.manual_seed(0)
    out = tower(idx, candidates=True)
    hits = torch.isclose(out, text_only, atol=1e-5).all(dim=1)
    assert 0 < int(hits.sum()) < len(idx)
    model.eval()
    torch.testing.assert_close(tower(idx, candidates=True), tower(idx, candidates=True))


def test_text_only_items_need_a_text_side() -> None:
    with pytest.raises(ConfigError, match="id_min_interactions"):
        TowerConfig.from_dict({"id_min_interactions": 1, "use_text": False})
