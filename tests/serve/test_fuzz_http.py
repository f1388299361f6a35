"""Property-based fuzzing of POST /recommend and /recommend/batch against the running app (hypothesis).

Bodies mix well-formed requests (real and unknown item ids, every target, odd values) with arbitrary JSON
and non-JSON bytes. Property: never a 5xx; every 4xx is JSON with a non-empty ``detail`` message; every
200 is a well-formed response with at most ``k`` items of the asked target. Examples are bounded and
derandomized (the same bodies on every run) so CI stays deterministic.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ray

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=12)
TEXT = st.text(max_size=40)  # any code points, lone surrogates included


@pytest.fixture(scope="module")
def catalogue(serve_bundle) -> tuple[list[str], list[str]]:
    items = pd.read_parquet(serve_bundle / "items.parquet")
    return items["item_id"].tolist(), sorted(items["domain"].unique().tolist())


def history_item(ids: list[str], domains: list[str]):
    item_id = st.sampled_from(ids) | TEXT | JSON
    fields = {"item_id": item_id, "domain": st.sampled_from(domains) | st.none() | TEXT,
              "timestamp": st.integers(-2**70, 2**70) | st.none() | JSON}
    fields.pop("item_id")
    return st.fixed_dictionaries({"item_id": item_id}, optional={**fields, "extra": JSON}) | JSON


def recommend_body(ids: list[str], domains: list[str]):
    fields = {
        "history": st.lists(history_item(ids, domains), max_size=8) | JSON,
        "target_domain": st.sampled_from([*domains, "movies", "books"]) | TEXT | JSON,
        "user_id": TEXT | st.none() | JSON,
        "k": st.integers(-5, 1200) | JSON,
        "exclude_seen": st.booleans() | JSON,
    }
    target = fields.pop("target_domain")
    return st.fixed_dictionaries({"target_domain": target}, optional={**fields, "colour": JSON})


def payloads(body):
    as_json = body.map(lambda b: json.dumps(b).encode())
    garbage = st.binary(max_size=200) | TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
    return st.one_of(as_json, as_json, as_json, JSON.map(lambda b: json.dumps(b).encode()), garbage)


def check(resp, body: bytes) -> None:
    assert resp.status_code < 500, f"{resp.status_code} for {body[:300]!r}: {resp.text[:300]}"
    if resp.status_code >= 400:
        detail = resp.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), f"no message for {body[:300]!r}: {resp.text[:300]}"


def check_response(data: dict, request: dict) -> None:
    assert data["target_domain"] == request["target_domain"] and len(data["items"]) <= request.get("k", 10)
    assert all({"item_id", "text", "score"} <= item.keys() for item in data["items"])


def test_fuzz_recommend(client, catalogue) -> None:
    ids, domains = catalogue
    seen: Counter[int] = Counter()

    @FUZZ
    @given(payloads(recommend_body(ids, domains)))
    def run(body: bytes) -> None:
        resp = client.post("/recommend", content=body, headers={"content-type": "application/json"})
        seen[resp.status_code] += 1
        check(resp, body)
        if resp.status_code == 200:
            check_response(resp.json(), json.loads(body))

    run()
    assert {200, 404, 422} <= seen.keys(), seen  # the bodies reached the model, the target check and validation


def test_fuzz_recommend_batch(client, catalogue) -> None:
    ids, domains = catalogue
    seen: Counter[int] = Counter()
    batch = st.fixed_dictionaries({"requests": st.lists(recommend_body(ids, domains), max_size=5) | JSON},
                                  optional={"extra": JSON})

    @FUZZ
    @given(payloads(batch))
    def run(body: bytes) -> None:
        resp = client.post("/recommend/batch", content=body, headers={"content-type": "application/json"})
        seen[resp.status_code] += 1
        check(resp, body)
        if resp.status_code == 200:
            sent = json.loads(body)["requests"]
            got = resp.json()["responses"]
            assert len(got) == len(sent)
            for data, request in zip(got, sent, strict=True):
                check_response(data, request)

    run()
    assert {200, 422} <= seen.keys(), seen
