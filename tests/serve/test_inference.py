"""The serving logic as plain classes, without Serve."""

from __future__ import annotations

import pandas as pd
import pytest

from crossrec.serve.inference import RequestError
from crossrec.serve.pipeline import RecommendationService
from crossrec.serve.schemas import RecommendRequest


@pytest.fixture(scope="module")
def service(serve_bundle):
    return RecommendationService(serve_bundle, max_history=50)


@pytest.fixture(scope="module")
def items(serve_bundle) -> pd.DataFrame:
    return pd.read_parquet(serve_bundle / "items.parquet")


def req(history, target="movies", **kw) -> RecommendRequest:
    return RecommendRequest(history=[{"item_id": i} for i in history], target_domain=target, **kw)


def test_source_only_history_gets_a_model_ranking(service, items) -> None:
    source = items[items["domain"] == "music"]["item_id"].head(4).tolist()
    resp = service.recommend(req(source, k=7))
    assert not resp.cold_start and resp.unknown_items == []
    assert len(resp.items) == 7
    assert all(i.item_id in set(items[items["domain"] == "movies"]["item_id"]) for i in resp.items)
    scores = [i.score for i in resp.items]
    assert scores == sorted(scores, reverse=True)
    assert resp.model_version and resp.items[0].text


def test_seen_target_items_are_excluded_unless_asked(service, items) -> None:
    movies = items[items["domain"] == "movies"]["item_id"].tolist()
    seen = movies[:5]
    ranked = [i.item_id for i in service.recommend(req(seen, k=len(movies))).items]
    assert not set(seen) & set(ranked) and len(ranked) == len(movies) - 5
    kept = [i.item_id for i in service.recommend(req(seen, k=len(movies), exclude_seen=False)).items]
    assert len(kept) == len(movies)


def test_unknown_and_empty_histories_fall_back_to_popularity(service) -> None:
    resp = service.recommend(req(["nope-1", "nope-2"]))
    assert resp.cold_start and resp.unknown_items == ["nope-1", "nope-2"] and len(resp.items) == 10
    empty = service.recommend(req([]))
    assert empty.cold_start and [i.item_id for i in empty.items] == [i.item_id for i in resp.items]


def test_history_order_follows_timestamps(service, items) -> None:
    ids = items[items["domain"] == "music"]["item_id"].head(3).tolist()
    timed = RecommendRequest(target_domain="movies", history=[
        {"item_id": ids[2], "timestamp": 30}, {"item_id": ids[0], "timestamp": 10}, {"item_id": ids[1], "timestamp": 20}])
    assert service.recommend(timed).items == service.recommend(req(ids)).items


def test_batch_across_targets_and_errors(service, items) -> None:
    hist = items[items["domain"] == "games"]["item_id"].head(3).tolist()
    out = service.recommend_many([req(hist, "movies"), req(hist, "books"), req([], "books")])
    assert [r.target_domain for r in out] == ["movies", "books", "books"]
    assert out[2].cold_start and not out[1].cold_start
    with pytest.raises(RequestError, match=r"target_domain: unknown target domain 'games'; known: \['books', 'movies'\]"):
        service.recommend(req(hist, "games"))
    wrong = RecommendRequest(target_domain="movies", history=[{"item_id": hist[0], "domain": "books"}])
    with pytest.raises(RequestError, match=r"history\[0\].domain: item .* belongs to domain 'games', not 'books'"):
        service.recommend(wrong)


def test_lost_replica_errors_map_to_retryable_503() -> None:
    from ray.exceptions import ActorDiedError

    from crossrec.serve.deployments import _unavailable

    wrapped = RuntimeError("task failed")
    wrapped.cause = ActorDiedError()
    assert _unavailable(ActorDiedError()) and _unavailable(wrapped)
    assert not _unavailable(ValueError("a bug"))


def test_explanations_are_the_exact_leave_one_out_score_changes(service, items) -> None:
    import numpy as np

    history = items[items["domain"] == "music"]["item_id"].head(3).tolist() + \
        items[items["domain"] == "movies"]["item_id"].head(2).tolist()
    resp = service.recommend(req(history, k=3, explain=True, explain_n=5))
    assert all(item.because is not None and len(item.because) <= 5 for item in resp.items)
    for item in resp.items:
        weights = [r.weight for r in item.because]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        for reason in item.because:  # the weight is the score drop when that one item is removed
            without = [h for h in history if h != reason.item_id]
            ranked = service.recommend(req(without, k=len(items), exclude_seen=False)).items
            score = next(i.score for i in ranked if i.item_id == item.item_id)
            assert np.isclose(item.score - score, reason.weight, atol=1e-4)
    cold = service.recommend(req([], explain=True))
    assert cold.cold_start and all(item.because == [] for item in cold.items)


def test_evicted_heads_are_not_kept_alive_elsewhere(serve_bundle) -> None:
    """The per-replica LRU is the only holder of a target's heads: an evicted target's model can be freed."""
    service = RecommendationService(serve_bundle, cache_capacity=1)
    service.heads.get("movies")
    service.heads.get("books")
    assert service.heads.loaded == ["books"] and service.catalog.bundle.targets == {}
