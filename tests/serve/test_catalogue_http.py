"""New items on day one over HTTP: the composed Serve app (local Ray) reads request-time item text and takes
catalogue updates through the authenticated admin endpoint while it serves."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest

from crossrec.benchmarks.serving import free_port

pytestmark = pytest.mark.ray

TOKEN = "test-admin-token"
SPACE = "A space opera: rebels fight an evil galactic empire with laser swords"


@pytest.fixture(scope="module")
def admin_env():
    """The token in this process's environment before Ray starts: the replicas inherit it."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CROSSREC_ADMIN_TOKEN", TOKEN)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def text_client(admin_env, text_bundle, local_ray, tmp_path_factory):
    from ray import serve

    from crossrec.serve.app import build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"bundle": str(text_bundle), "max_history": 50,
                         "catalogue": str(tmp_path_factory.mktemp("catalogue"))}), name="crossrec", route_prefix="/")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
        yield c
    serve.shutdown()


@pytest.fixture(scope="module")
def items(text_bundle) -> pd.DataFrame:
    return pd.read_parquet(text_bundle / "items.parquet")


def ids(items, domain, n):
    return items[items["domain"] == domain]["item_id"].head(n).tolist()


def admin(client, body, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/admin/catalogue", json=body, headers=headers)


def test_history_items_that_only_carry_text(text_client, items) -> None:
    music = [{"item_id": i} for i in ids(items, "music", 3)]
    texts = [{"item_id": f"outside-{i}", "domain": "movies", "text": f"{SPACE} part {i}"} for i in range(3)]
    plain = text_client.post("/recommend", json={"history": music, "target_domain": "movies"}).json()
    r = text_client.post("/recommend", json={"history": music + texts, "target_domain": "movies"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["unknown_items"] == [] and not data["cold_start"]
    assert [i["score"] for i in data["items"]] != pytest.approx([i["score"] for i in plain["items"]])
    only = text_client.post("/recommend", json={"history": texts, "target_domain": "books"}).json()
    assert not only["cold_start"] and only["unknown_items"] == []
    before = text_client.get("/debug/encoder").json()
    assert before["backbone_loaded"] and before["embed_batches"] >= 1
    # Concurrent requests' texts reach the Encoder's batched embedding; each distinct text is encoded once.
    fresh = [[{"item_id": f"c-{r}-{j}", "domain": "movies", "text": f"{SPACE}, episode {r}.{j}"} for j in range(2)]
             for r in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda t: text_client.post("/recommend", json={
            "history": music + t + fresh[0], "target_domain": "movies", "explain": True}), fresh))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    assert all(all(isinstance(i["because"], list) for i in a.json()["items"]) for a in answers)
    after = text_client.get("/debug/encoder").json()
    assert after["texts_encoded"] - before["texts_encoded"] == 12 and after["embed_batches"] > before["embed_batches"]


@pytest.mark.parametrize(("item", "message"), [
    ({"item_id": "x", "domain": "movies", "text": ""}, "history.0.text: Value error, text is empty or only whitespace"),
    ({"item_id": "x", "domain": "movies", "text": "y" * 4001}, "history.0.text: String should have at most 4000"),
    ({"item_id": "x", "domain": "podcasts", "text": SPACE}, "history[0].domain: unknown domain 'podcasts'"),
    ({"item_id": "x", "text": SPACE}, "history[0].domain: required with `text`"),
])
def test_bad_item_text_gets_422_naming_the_field(text_client, item, message) -> None:
    r = text_client.post("/recommend", json={"history": [item], "target_domain": "movies"})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


def test_admin_calls_need_the_token(text_client) -> None:
    body = {"add": [{"item_id": "sneaky", "domain": "movies", "text": SPACE}]}
    for token in (None, "wrong"):
        r = admin(text_client, body, token)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
    r = admin(text_client, {"add": [{"item_id": "n", "domain": "movies", "text": " "}]})
    assert r.status_code == 422 and "add.0.text" in r.json()["detail"]
    assert text_client.get("/domains").json()["catalogue_version"] == 0  # nothing was published


def test_items_added_while_serving_are_recommended_with_no_failed_request(text_client, items) -> None:
    from crossrec.serve.loadgen import run_load

    music = ids(items, "music", 3)
    body = {"history": [{"item_id": i} for i in music], "target_domain": "movies", "k": 100}
    before = text_client.post("/recommend", json=body).json()
    top = [i["item_id"] for i in before["items"]]
    text = items.set_index("item_id").text[top[0]]  # the best item's text: the new item ranks near the top
    stop, result = threading.Event(), {}
    load = threading.Thread(target=lambda: result.setdefault("r", run_load(
        str(text_client.base_url), [body], concurrency=4, duration_s=120, max_requests=100_000, stop=stop)))
    load.start()
    try:
        r = admin(text_client, {"add": [{"item_id": "day-one", "domain": "movies", "text": text}],
                                "remove": [top[1]]})
        assert r.status_code == 200, r.text
        update = r.json()
        after = text_client.post("/recommend", json=body).json()  # the very next request sees the update
    finally:
        stop.set()
        load.join()
    assert result["r"].errors == 0 and result["r"].requests > 0, result["r"].statuses
    assert update["catalogue_version"] == 1 and update["added"] == ["day-one"] and update["removed"] == [top[1]]
    ranked = [i["item_id"] for i in after["items"]]
    assert after["catalogue_version"] == 1 and "day-one" in ranked[:5] and top[1] not in ranked
    domains = text_client.get("/domains").json()
    assert domains["catalogue_version"] == 1
    movies = next(d for d in domains["domains"] if d["domain"] == "movies")
    assert movies["catalogue_size"] == len(ids(items, "movies", 1000))  # one added, one removed
    # In a history the new item is read by its catalogue text and, once seen, not recommended again.
    seen = text_client.post("/recommend", json={**body, "history": body["history"] + [{"item_id": "day-one"}]}).json()
    assert seen["unknown_items"] == [] and "day-one" not in [i["item_id"] for i in seen["items"]]
