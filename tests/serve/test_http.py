"""The composed Serve app over real HTTP (started once for the module on local Ray)."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def items(serve_bundle) -> pd.DataFrame:
    return pd.read_parquet(serve_bundle / "items.parquet")


def ids(items, domain, n):
    return items[items["domain"] == domain]["item_id"].head(n).tolist()


def test_happy_path_health_domains_docs(client, items) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    domains = {d["domain"]: d for d in client.get("/domains").json()["domains"]}
    assert domains["movies"]["servable"] and not domains["music"]["servable"]
    assert domains["movies"]["catalogue_size"] == len(ids(items, "movies", 10_000))
    assert client.get("/docs").status_code == 200 and "/recommend" in client.get("/openapi.json").json()["paths"]
    body = {"user_id": "u1", "history": [{"item_id": i} for i in ids(items, "music", 4)], "target_domain": "movies", "k": 5}
    r = client.post("/recommend", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user_id"] == "u1" and not data["cold_start"] and len(data["items"]) == 5
    assert {"item_id", "text", "score"} <= data["items"][0].keys() and data["model_version"]


def test_batch_and_multiplexed_targets(client, items) -> None:
    hist = [{"item_id": i} for i in ids(items, "games", 3)]
    r = client.post("/recommend/batch", json={"requests": [
        {"history": hist, "target_domain": "movies"}, {"history": hist, "target_domain": "books"},
        {"history": [], "target_domain": "books"}]})
    assert r.status_code == 200, r.text
    out = r.json()["responses"]
    assert [o["target_domain"] for o in out] == ["movies", "books", "books"]
    movie_ids, book_ids = set(ids(items, "movies", 1000)), set(ids(items, "books", 1000))
    assert {i["item_id"] for i in out[0]["items"]} <= movie_ids
    assert {i["item_id"] for i in out[1]["items"]} <= book_ids
    assert out[2]["cold_start"]
    # One Encoder replica loaded both targets' heads on demand (multiplexed by target domain).
    assert client.get("/debug/encoder").json()["loaded_targets"] >= 2


def test_unknown_items_are_reported_and_all_unknown_is_a_cold_start(client, items) -> None:
    known = ids(items, "music", 2)
    r = client.post("/recommend", json={"history": [{"item_id": known[0]}, {"item_id": "ghost"}], "target_domain": "movies"})
    assert r.status_code == 200 and r.json()["unknown_items"] == ["ghost"] and not r.json()["cold_start"]
    r = client.post("/recommend", json={"history": [{"item_id": "ghost"}], "target_domain": "movies"})
    assert r.status_code == 200 and r.json()["cold_start"]


BAD = [
    ({"history": [], "target_domain": "podcasts"}, 404, "target_domain: unknown target domain 'podcasts'"),
    ({"history": []}, 422, "target_domain: Field required"),
    ({"history": [], "target_domain": "movies", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"history": [], "target_domain": "movies", "k": 1001}, 422, "k: Input should be less than or equal to 1000"),
    ({"history": [], "target_domain": "movies", "k": "ten"}, 422, "k: Input should be a valid integer"),
    ({"history": "abc", "target_domain": "movies"}, 422, "history: Input should be a valid list"),
    ({"history": [{"item": "x"}], "target_domain": "movies"}, 422, "history.0.item_id: Field required"),
    ({"history": [{"item_id": 5}], "target_domain": "movies"}, 422, "history.0.item_id: Input should be a valid string"),
    ({"history": [{"item_id": "x", "timestamp": "noon"}], "target_domain": "movies"}, 422, "history.0.timestamp"),
    ({"history": [], "target_domain": "movies", "exclude_seen": "maybe"}, 422, "exclude_seen: Input should be a valid boolean"),
    ({"history": [], "target_domain": "movies", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    ({"history": [{"item_id": "x"}] * 51, "target_domain": "movies"}, 413, "history: at most 50 items, got 51"),
    ({"history": [{"item_id": ""}], "target_domain": "movies"}, 422, "history.0.item_id: String should have at least 1 character"),
    ({"history": [], "target_domain": ""}, 422, "target_domain: String should have at least 1 character"),
    ({"history": [], "target_domain": "movies", "k": "10"}, 422, "k: Input should be a valid integer"),
    ({"history": [], "target_domain": "movies", "k": True}, 422, "k: Input should be a valid integer"),
    ({"history": [], "target_domain": "movies", "k": 10.0}, 422, "k: Input should be a valid integer"),
    ({"history": [], "target_domain": "movies", "exclude_seen": 1}, 422, "exclude_seen: Input should be a valid boolean"),
    ({"history": [], "target_domain": "movies", "exclude_seen": "false"}, 422, "exclude_seen: Input should be a valid boolean"),
    ({"history": [{"item_id": "x", "timestamp": "123"}], "target_domain": "movies"}, 422, "history.0.timestamp: Input should be a valid integer"),
    ({"history": [{"item_id": "x", "timestamp": True}], "target_domain": "movies"}, 422, "history.0.timestamp: Input should be a valid integer"),
    ({"history": [], "target_domain": "movies", "explain": "true"}, 422, "explain: Input should be a valid boolean"),
    ({"history": [], "target_domain": "movies", "explain": 1}, 422, "explain: Input should be a valid boolean"),
    ({"history": [], "target_domain": "movies", "explain": True, "explain_n": 0}, 422,
     "explain_n: Input should be greater than or equal to 1"),
    ({"history": [], "target_domain": "movies", "explain": True, "explain_n": 11}, 422,
     "explain_n: Input should be less than or equal to 10"),
    ({"history": [], "target_domain": "movies", "explain_n": "3"}, 422, "explain_n: Input should be a valid integer"),
    ({"history": [], "target_domain": "movies", "explain_n": 2.5}, 422, "explain_n: Input should be a valid integer"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, _, m) in enumerate(BAD)])
def test_bad_requests_get_4xx_naming_the_field(client, body, status, message) -> None:
    r = client.post("/recommend", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_bad_bodies_and_batches(client, items) -> None:
    r = client.post("/recommend", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    r = client.post("/recommend", json={"history": [{"item_id": "x" * 500}] * 45, "target_domain": "movies"})
    assert r.status_code == 413 and "body:" in r.json()["detail"]
    r = client.post("/recommend/batch", json={"requests": []})
    assert r.status_code == 422 and "requests: List should have at least 1 item" in r.json()["detail"]
    wrong = ids(items, "music", 1)[0]
    r = client.post("/recommend/batch", json={"requests": [{"history": [{"item_id": wrong, "domain": "books"}], "target_domain": "movies"}]})
    assert r.status_code == 422 and "requests[0].history[0].domain" in r.json()["detail"]


def test_load_generator_refuses_non_loopback_targets() -> None:
    from crossrec.serve.loadgen import run_load

    with pytest.raises(ValueError, match="only targets loopback"):
        run_load("http://10.0.0.1:8000", [{}], 1, duration_s=0.1, max_requests=1)


def test_load_generator_against_the_app(client, items) -> None:
    from crossrec.serve.loadgen import run_load

    body = {"history": [{"item_id": i} for i in ids(items, "music", 3)], "target_domain": "movies"}
    result = run_load(str(client.base_url), [body], concurrency=4, duration_s=2.0, max_requests=40)
    assert result.errors == 0 and result.requests > 0 and result.p50_ms > 0


def test_ready_reports_every_deployment_on_the_same_verified_bundle(client) -> None:
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    data = r.json()
    version = client.get("/healthz").json()["model_version"]
    assert data["status"] == "ready" and data["model_version"] == version
    assert data["deployments"] == {"Ingress": version, "Encoder": version, "Fusion": version, "Ranker": version}


def test_a_replica_never_becomes_ready_on_a_corrupted_bundle(serve_bundle, tmp_path) -> None:
    import shutil

    from crossrec.errors import BundleError
    from crossrec.serve.deployments import RankerReplica

    bad = shutil.copytree(serve_bundle, tmp_path / "bundle")
    heads = bad / "targets" / "movies" / "heads.safetensors"
    data = bytearray(heads.read_bytes())
    data[-1] ^= 0xFF
    heads.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        RankerReplica(str(bad))  # the replica constructor: Serve would never route to it


def test_stale_replicas_refuse_requests_of_another_bundle(serve_bundle) -> None:
    import asyncio

    import numpy as np

    from crossrec.serve.deployments import FusionReplica
    from crossrec.serve.messages import InterestBatch, StaleBundleError

    fusion = FusionReplica(str(serve_bundle))
    assert fusion.ready() == fusion.version
    stale = InterestBatch("other", "movies", *(np.zeros((1, 4), np.float32),) * 3, np.zeros(4, np.float32),
                          np.zeros(1, bool))
    with pytest.raises(StaleBundleError, match="the request expects 'other'"):
        asyncio.run(fusion.fuse(stale))


def test_explanations_over_http_are_documented_and_off_by_default(client, items) -> None:
    music = ids(items, "music", 3)
    body = {"history": [{"item_id": i} for i in music], "target_domain": "movies", "k": 3}
    plain = client.post("/recommend", json=body).json()
    assert all(item["because"] is None for item in plain["items"])
    explained = client.post("/recommend", json={**body, "explain": True, "explain_n": 2}).json()
    assert [i["item_id"] for i in explained["items"]] == [i["item_id"] for i in plain["items"]]
    reasons = [r for item in explained["items"] for r in item["because"]]
    assert reasons and all(r["item_id"] in music and r["domain"] == "music" and r["weight"] > 0 for r in reasons)
    assert all(len(item["because"]) <= 2 for item in explained["items"])
    batch = client.post("/recommend/batch", json={"requests": [{**body, "explain": True}, body]}).json()["responses"]
    assert batch[0]["items"][0]["because"] is not None and batch[1]["items"][0]["because"] is None
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "explain" in schema["RecommendRequest"]["properties"] and "because" in schema["ScoredItem"]["properties"]
