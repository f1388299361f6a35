"""The serving stages as plain classes (no Serve), the plain FastAPI app, and the fused Serve layout: all run the
same pipeline and give the same answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from crossrec.serve.inference import BundleCatalog, TargetHeadsCache
from crossrec.serve.messages import HistoryBatch, RankPlan, StaleBundleError
from crossrec.serve.pipeline import RecommendationService
from crossrec.serve.schemas import RecommendRequest
from crossrec.serve.stages import EncoderStage, FusionStage, RankerStage


@pytest.fixture(scope="module")
def items(serve_bundle) -> pd.DataFrame:
    return pd.read_parquet(serve_bundle / "items.parquet")


@pytest.fixture(scope="module")
def service(serve_bundle) -> RecommendationService:
    return RecommendationService(serve_bundle, max_history=50)


def bodies(items: pd.DataFrame) -> list[dict]:
    music = items[items["domain"] == "music"]["item_id"].head(4).tolist()
    movies = items[items["domain"] == "movies"]["item_id"].head(3).tolist()
    return [{"history": [{"item_id": i} for i in music], "target_domain": "movies", "k": 5},
            {"history": [{"item_id": i} for i in music + movies], "target_domain": "movies", "k": 8},
            {"history": [{"item_id": "never-seen"}], "target_domain": "books", "k": 3},
            {"history": [{"item_id": i} for i in movies], "target_domain": "books", "k": 4, "explain": True}]


def same(got: dict, want: dict) -> bool:
    """Equal responses, scores to float32 precision (a batch of other rows may change the last bits)."""
    def strip(r: dict) -> dict:
        return {**r, "items": [{**i, "score": None} for i in r["items"]]}

    scores = [[i["score"] for i in r["items"]] for r in (got, want)]
    return strip(got) == strip(want) and np.allclose(*scores, rtol=1e-5, atol=1e-5)


def test_stages_run_as_plain_classes_with_typed_messages(serve_bundle, items, service) -> None:
    catalog = BundleCatalog(serve_bundle)
    heads = TargetHeadsCache(catalog)
    v = catalog.version
    encoder, fusion, ranker = EncoderStage(v, heads), FusionStage(v, heads), RankerStage(v, heads)
    index = catalog.index
    music = [int(i) for i in np.flatnonzero(index.item_domain == index.domain_id("music"))[:4]]
    movies = [int(i) for i in index.domain_items("movies")[:2]]
    rows = [np.array(music), np.array(music + movies)]
    batch = HistoryBatch.pack(v, "movies", [(r, index.item_domain[r]) for r in rows])
    assert batch.items.shape == (2, 6) and batch.items[0, :2].tolist() == [0, 0]  # left-padded

    async def chain():
        queries = await fusion.fuse(await encoder.encode(batch))
        plan = RankPlan.build(v, "movies", 5, cold=[False, True, False], seen=[[], [], movies])
        return queries, await ranker.rank(plan, queries)

    queries, ranked = asyncio.run(chain())
    assert queries.queries.shape == (2, queries.queries.shape[1]) and ranked.items.shape == (3, 5)
    assert not set(ranked.items[2].tolist()) & set(movies)  # seen target items excluded exactly

    def ids(row: int) -> list[str]:
        return [str(index.item_ids[i]) for i in ranked.items[row]]

    cold = service.recommend(RecommendRequest(target_domain="movies", k=5))  # cold row: popularity order
    assert ids(1) == [i.item_id for i in cold.items]
    direct = service.recommend(RecommendRequest(target_domain="movies", k=5,
                                                history=[{"item_id": str(index.item_ids[i])} for i in music]))
    assert ids(0) == [i.item_id for i in direct.items]
    with pytest.raises(ValueError, match="1 warm rows but 2 queries"):
        asyncio.run(ranker.rank(RankPlan.build(v, "movies", 5, cold=[False], seen=[[]]), queries))
    with pytest.raises(StaleBundleError, match="the request expects 'old'"):
        asyncio.run(encoder.encode(HistoryBatch("old", "movies", batch.items, batch.domains)))


def test_plain_fastapi_app_serves_the_same_answers(serve_bundle, items, service) -> None:
    from crossrec.serve.http import local_frontend

    with TestClient(local_frontend(serve_bundle, max_history=50).api) as client:
        for body in bodies(items):
            got = client.post("/recommend", json=body)
            assert got.status_code == 200, got.text
            assert same(got.json(), service.respond_many([RecommendRequest(**body)])[0])
        assert client.get("/ready").json()["deployments"] == {"Service": service.catalog.version}
        bad = client.post("/recommend", json={"target_domain": "movies", "k": "10"})
        assert bad.status_code == 422 and "k:" in bad.json()["detail"]
        assert client.post("/recommend", json={"target_domain": "games"}).status_code == 404


@pytest.mark.ray
def test_fused_serve_config_serves_the_same_answers(serve_bundle, items, service, local_ray) -> None:
    import httpx
    import yaml
    from ray import serve

    from crossrec.benchmarks.serving import free_port
    from crossrec.serve.app import build_app

    repo = Path(__file__).resolve().parents[2]
    app = yaml.safe_load((repo / "serve_configs" / "fused.yaml").read_text())["applications"][0]
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({**app["args"], "bundle": str(serve_bundle)}), name="crossrec", route_prefix="/")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert client.get("/ready").json()["deployments"] == {"Service": service.catalog.version}
            for body in bodies(items):
                want = service.respond_many([RecommendRequest(**body)])[0]
                assert same(client.post("/recommend", json=body).json(), want)
            batch = client.post("/recommend/batch", json={"requests": bodies(items)}).json()["responses"]
            want = service.respond_many([RecommendRequest(**b) for b in bodies(items)])
            assert len(batch) == len(want) and all(same(g, w) for g, w in zip(batch, want, strict=True))
    finally:
        serve.shutdown()


def test_ranker_uses_the_bundle_ann_index_above_the_threshold(serve_bundle, items, service, tmp_path) -> None:
    pytest.importorskip("faiss")
    import shutil

    from crossrec.model.ann import AnnConfig
    from crossrec.model.bundle import add_ann_indexes

    bundle = shutil.copytree(serve_bundle, tmp_path / "bundle")
    add_ann_indexes(bundle, AnnConfig(kind="hnsw"), targets=["movies"], log=lambda _m: None)
    ann = RecommendationService(bundle, max_history=50, ann_min_items=1)
    exact = RecommendationService(bundle, max_history=50, ann_min_items=None)
    used = []
    heads = ann.heads.get("movies")
    search = heads.ann.search
    heads.ann.search = lambda *a, **kw: used.append(1) or search(*a, **kw)
    for body in bodies(items):
        got, want = (s.respond_many([RecommendRequest(**body)])[0] for s in (ann, exact))
        assert same(got, want)  # a tiny catalogue: the index finds every candidate, re-scored exactly
    assert len(used) == 2  # the two warm movies requests went through the index; books has none: exact
    seen = items[items["domain"] == "movies"]["item_id"].head(5).tolist()
    ranked = ann.recommend(RecommendRequest(target_domain="movies", k=50, history=[{"item_id": i} for i in seen]))
    assert not set(seen) & {i.item_id for i in ranked.items}  # exclusion stays exact
