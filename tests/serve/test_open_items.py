"""Items outside the bundle (request-time text) and catalogue updates, through the plain classes (no Serve)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from crossrec.serve.inference import RequestError
from crossrec.serve.pipeline import RecommendationService
from crossrec.serve.schemas import MAX_ITEM_TEXT, CatalogueUpdateRequest, RecommendRequest

SPACE = "A space opera: rebels fight an evil galactic empire with laser swords"


@pytest.fixture(scope="module")
def items(text_bundle) -> pd.DataFrame:
    return pd.read_parquet(text_bundle / "items.parquet")


@pytest.fixture(scope="module")
def service(text_bundle, tmp_path_factory):
    return RecommendationService(text_bundle, max_history=50, catalogue_dir=tmp_path_factory.mktemp("catalogue"))


def ids(items, domain, n):
    return items[items["domain"] == domain]["item_id"].head(n).tolist()


def req(history, target="movies", **kw) -> RecommendRequest:
    return RecommendRequest(history=[h if isinstance(h, dict) else {"item_id": h} for h in history],
                            target_domain=target, **kw)


def ranked(resp) -> list[str]:
    return [i.item_id for i in resp.items]


def test_bundle_items_alone_never_load_the_backbone(text_bundle, items) -> None:
    fresh = RecommendationService(text_bundle, max_history=50)
    resp = fresh.recommend(req(ids(items, "music", 3)))
    assert not resp.cold_start and resp.catalogue_version == 0
    assert not fresh.pipeline.calls.encoder.embedder.loaded


def test_text_only_history_items_are_read_not_dropped(service, items) -> None:
    music = ids(items, "music", 3)
    plain = service.recommend(req(music, k=10))
    texts = [{"item_id": f"outside-{i}", "domain": "movies", "text": f"{SPACE} part {i}"} for i in range(3)]
    mixed = service.recommend(req(music + texts, k=10))
    assert mixed.unknown_items == [] and not mixed.cold_start
    assert [i.score for i in mixed.items] != pytest.approx([i.score for i in plain.items])
    only_text = service.recommend(req(texts, k=10))  # no catalogue item at all: still a model ranking
    assert not only_text.cold_start and only_text.unknown_items == []
    assert service.pipeline.calls.encoder.embedder.loaded
    # The same texts again are served from the embedder's LRU, not re-encoded.
    encoded = service.pipeline.calls.encoder.embedder.encoded
    assert ranked(service.recommend(req(music + texts, k=10))) == ranked(mixed)
    assert service.pipeline.calls.encoder.embedder.encoded == encoded
    # Without text the same ids are dropped, as before.
    bare = service.recommend(req(music + [{"item_id": t["item_id"]} for t in texts], k=10))
    assert bare.unknown_items == [t["item_id"] for t in texts] and ranked(bare) == ranked(plain)


def test_request_text_is_embedded_like_the_bundle_text_table(service, items) -> None:
    """Same backbone, same normalisation: an item's own text embeds to its row of the heads' text table (base
    backbone for a source-domain item), and a text-only vector is the item tower's output with the ID masked."""
    from crossrec.model.open_items import text_item_vectors

    heads = service.heads.get("movies")
    row = items.index[items["domain"] == "music"][0]
    idx, text = int(row) + 1, str(items.loc[row, "text"])
    emb = service.pipeline.calls.encoder.embedder.embed("movies", [("music", text)])
    assert torch.allclose(emb[0], heads.model.item_tower.text_table[idx], atol=1e-5)
    movie = int(heads.catalogue[0])
    vec = text_item_vectors(heads.model, heads.model.item_tower.text_table[[movie]])
    tower = heads.model.item_tower(torch.tensor([movie]), candidates=True, id_mask=torch.tensor([False]))
    assert torch.allclose(vec, tower, atol=1e-6)
    assert not torch.allclose(vec, heads.catalogue_vectors[:1])  # the ID part does count for a trained item


def test_text_rules(service, items) -> None:
    music = ids(items, "music", 2)
    with pytest.raises(ValidationError, match="history.0.text\n  Value error, text is empty or only whitespace"):
        req([{"item_id": "x", "domain": "movies", "text": "   "}])
    with pytest.raises(ValidationError, match=f"at most {MAX_ITEM_TEXT} characters"):
        req([{"item_id": "x", "domain": "movies", "text": "y" * (MAX_ITEM_TEXT + 1)}])
    with pytest.raises(RequestError, match=r"history\[1\].domain: unknown domain 'podcasts'; known: \['books'"):
        service.recommend(req([music[0], {"item_id": "x", "domain": "podcasts", "text": SPACE}]))
    with pytest.raises(RequestError, match=r"history\[0\].domain: required with `text` for item 'x'"):
        service.recommend(req([{"item_id": "x", "text": SPACE}]))
    # A catalogue id keeps the catalogue's text: the request's differing text is ignored and reported.
    with_text = service.recommend(req([{"item_id": music[0], "text": SPACE}, music[1]]))
    assert with_text.ignored_text == [music[0]] and ranked(with_text) == ranked(service.recommend(req(music)))
    same = service.recommend(req([{"item_id": music[0], "text": str(items.set_index("item_id").text[music[0]])}]))
    assert same.ignored_text == []


def test_id_only_heads_cannot_read_text(serve_bundle, tmp_path) -> None:
    ids_only = RecommendationService(serve_bundle, catalogue_dir=tmp_path)
    resp = ids_only.recommend(req([{"item_id": "x", "domain": "movies", "text": SPACE}]))
    assert resp.unknown_items == ["x"] and resp.cold_start
    with pytest.raises(RequestError, match=r"add\[0\].domain: the heads of target 'movies' have no text side") as err:
        ids_only.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "n", "domain": "movies", "text": SPACE}]))
    assert err.value.status == 409


def test_history_batch_packs_open_items_into_text_slots() -> None:
    from crossrec.serve.messages import HistoryBatch

    rows = [(np.array([3, 9, 4]), np.array([1, 2, 1])), (np.array([5]), np.array([2]))]
    batch = HistoryBatch.pack("v", "movies", rows, [[(1, "books", "t")], [(0, "books", "t")]])
    assert batch.items.tolist() == [[3, 9, 4], [0, 0, 5]] and batch.texts == (("books", "t"),)
    assert batch.slots.tolist() == [[-1, 0, -1], [-1, -1, 0]]  # one text, embedded once for both rows
    items, _, slots = batch.fit(5)
    assert items.tolist()[0] == [0, 0, 3, 9, 4] and slots.tolist()[1] == [-1, -1, -1, -1, 0]
    assert [(r[0].tolist(), r[2].tolist()) for r in batch.rows()] == [([3, 9, 4], [-1, 0, -1]), ([5], [0])]
    assert HistoryBatch.pack("v", "movies", rows, [[], []]).slots is None


def test_catalogue_updates_add_remove_and_version(service, items) -> None:
    music, movies = ids(items, "music", 3), ids(items, "movies", 100)
    before = service.recommend(req(music, k=len(movies)))
    gone = ranked(before)[0]
    text = str(items.set_index("item_id").text[ranked(before)[1]])  # a known item's text: ranks near it
    out = service.update_catalogue(CatalogueUpdateRequest(
        add=[{"item_id": "new-movie", "domain": "movies", "text": text},
             {"item_id": "new-song", "domain": "music", "text": SPACE}], remove=[gone]))
    assert out["added"] == ["new-movie", "new-song"] and out["removed"] == [gone]
    version = out["catalogue_version"]
    after = service.recommend(req(music, k=len(movies) + 5))
    assert after.catalogue_version == version
    assert "new-movie" in ranked(after) and gone not in ranked(after) and "new-song" not in ranked(after)
    assert len(after.items) == len(movies)  # one in, one out
    cold = service.recommend(req([], k=len(movies) + 5))  # popularity fallback: removed items gone there too
    assert cold.cold_start and gone not in ranked(cold)
    # Added items are catalogue items from now on: read in histories by their text, excluded once seen.
    seen = service.recommend(req(music + ["new-movie", "new-song"], k=len(movies) + 5))
    assert seen.unknown_items == [] and "new-movie" not in ranked(seen)
    # A retry is a no-op; an id never changes its text; the version only moves on a change.
    again = service.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "new-movie", "domain": "movies",
                                                                  "text": text}]))
    assert again == {**out, "added": [], "removed": [], "catalogue_version": version}
    with pytest.raises(RequestError, match=r"add\[0\].item_id: 'new-movie' is already in the catalogue") as err:
        service.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "new-movie", "domain": "movies",
                                                              "text": SPACE}]))
    assert err.value.status == 409
    restored = service.update_catalogue(CatalogueUpdateRequest(
        add=[{"item_id": gone, "domain": "movies", "text": str(items.set_index("item_id").text[gone])}],
        remove=["new-movie"]))
    assert restored["catalogue_version"] == version + 1 and restored["added"] == [gone]
    final = ranked(service.recommend(req(music, k=len(movies) + 5)))
    assert gone in final and "new-movie" not in final


@pytest.mark.parametrize(("body", "message"), [
    ({"add": [{"item_id": "a", "domain": "podcasts", "text": "t"}]}, r"add\[0\].domain: unknown domain 'podcasts'"),
    ({"add": [{"item_id": "a", "domain": "movies", "text": "t"}] * 2}, r"add\[1\].item_id: 'a' is given twice"),
    ({"add": [{"item_id": "a", "domain": "movies", "text": "t"}], "remove": ["a"]}, "is both added and removed"),
    ({"remove": ["never-seen"]}, r"remove\[0\]: unknown item 'never-seen'"),
])
def test_bad_catalogue_updates_name_the_field(service, body, message) -> None:
    version = service.catalog.store.current().version
    with pytest.raises(RequestError, match=message):
        service.update_catalogue(CatalogueUpdateRequest.model_validate(body))
    assert service.catalog.store.refresh().version == version  # nothing published


def test_a_half_written_update_is_never_served(text_bundle, items, tmp_path) -> None:
    """A version directory is only served once CURRENT names it; a writer that died before that leaves the
    service on the previous version, and the next update replaces the leftover."""
    service = RecommendationService(text_bundle, max_history=50, catalogue_dir=tmp_path)
    store = service.catalog.store
    service.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "one", "domain": "movies", "text": SPACE}]))
    leftover = store.dir / "v000002"
    leftover.mkdir()
    (leftover / "overlay.json").write_text('{"items": [')  # torn write, CURRENT still says 1
    assert store.refresh().version == 1 and store.current().added("one") is not None
    assert "one" in ranked(service.recommend(req(ids(items, "music", 2), k=100)))
    out = service.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "two", "domain": "movies", "text": "x"}]))
    assert out["catalogue_version"] == 2 and store.refresh().added("two").index == store.base_size + 2


def test_admin_token_rules(service) -> None:
    from crossrec.serve.admin import CatalogueAdmin

    off = CatalogueAdmin(service.catalog, service.pipeline.item_vectors, token=None)
    with pytest.raises(RequestError, match="the admin API is off: set CROSSREC_ADMIN_TOKEN") as err:
        off.authorize("Bearer anything")
    assert err.value.status == 403
    on = CatalogueAdmin(service.catalog, service.pipeline.item_vectors, token="s3cret")
    for header in (None, "", "Bearer wrong", "Basic s3cret", "s3cret"):
        with pytest.raises(RequestError, match="missing or wrong admin token") as err:
            on.authorize(header)
        assert err.value.status == 401
    on.authorize("Bearer s3cret")


def test_cli_publishes_catalogue_updates_a_service_reads(text_bundle, items, tmp_path, capsys) -> None:
    import json

    from crossrec.cli import main

    catalogue = tmp_path / "catalogue"
    service = RecommendationService(text_bundle, max_history=50, catalogue_dir=catalogue)  # already running
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"item_id": "cli-movie", "domain": "movies", "text": SPACE}) + "\n")
    assert main(["catalogue", "add", "--bundle", str(text_bundle), "--file", str(new), "--catalogue", str(catalogue)]) == 0
    assert "catalogue version 1" in capsys.readouterr().out
    resp = service.recommend(req(ids(items, "music", 2), k=100))
    assert resp.catalogue_version == 1 and "cli-movie" in ranked(resp)
    assert main(["catalogue", "remove", "-b", str(text_bundle), "-f", str(new), "--catalogue", str(catalogue)]) == 0
    assert "cli-movie" not in ranked(service.recommend(req(ids(items, "music", 2), k=100)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"item_id": "x", "domain": "movies", "text": ""}) + "\n")
    assert main(["catalogue", "add", "-b", str(text_bundle), "-f", str(bad), "--catalogue", str(catalogue)]) == 2
    assert "add.0.text" in capsys.readouterr().err


def test_open_item_text_goes_through_the_adapter_its_target_was_trained_with(text_bundle) -> None:
    """Target T's heads read T's items through T's adapter and other domains' through the base backbone."""
    from crossrec.model.text_embedder import BundleTextEmbedder

    calls = []

    class Stub:
        def encode(self, texts, domain=None, batch_size=64):
            calls.append((domain, list(texts)))
            return torch.ones(len(texts), 4)

    embedder = BundleTextEmbedder(text_bundle, {}, None)
    embedder._encoder = Stub()
    out = embedder.embed("movies", [("movies", "a"), ("music", "b"), ("movies", "a"), ("books", "c")])
    assert out.shape == (4, 4) and sorted(calls, key=str) == sorted([("movies", ["a"]), (None, ["b", "c"])], key=str)
    embedder.embed("books", [("movies", "a")])  # a source item for books: base embedding, not movies' adapter
    assert calls[-1] == (None, ["a"]) and embedder.embed("movies", [("movies", "a")]) is not None
    assert embedder.encoded == 4 and embedder.cache.hits == 1  # a repeated text is encoded once, then cached


def test_histories_without_open_positions_encode_exactly_as_before(service, items) -> None:
    from crossrec.model.open_items import interests_with_text

    model = service.heads.get("movies").model
    hist = torch.tensor([[0, 0] + [int(i) + 1 for i in items.index[:8]]])
    domains = torch.as_tensor(service.catalog.index.item_domain)[hist]
    none = torch.zeros_like(hist, dtype=torch.bool)
    with torch.no_grad():
        ours = interests_with_text(model, hist, domains, torch.zeros(1, hist.shape[1], 384), none)
        theirs = model.encode_interests(hist, domains)
    assert torch.allclose(ours.source, theirs.source, atol=1e-6) and torch.allclose(ours.target, theirs.target, atol=1e-6)


def test_explanations_cover_text_items_and_added_items(text_bundle, items, tmp_path) -> None:
    """A history item read by its text can be a reason, an item added by a catalogue update gets reasons, and
    every weight is the score drop when that one history item is removed (exact leave-one-out)."""
    service = RecommendationService(text_bundle, max_history=50, catalogue_dir=tmp_path)
    service.update_catalogue(CatalogueUpdateRequest(add=[{"item_id": "new-movie", "domain": "movies",
                                                          "text": f"{SPACE}: the sequel"}]))
    texts = [{"item_id": f"outside-{i}", "domain": "movies", "text": f"{SPACE} part {i}"} for i in range(2)]
    history = ids(items, "music", 3) + texts
    everything = len(ids(items, "movies", 10_000)) + 1
    resp = service.recommend(req(history, k=everything, explain=True, explain_n=10))
    explained = {i.item_id: i for i in resp.items}
    reasons = {r.item_id for i in resp.items for r in i.because}
    assert {"outside-0", "outside-1"} & reasons, "text-only history items never explain anything"
    assert explained["new-movie"].because, "the added item got no reasons"
    checked = [explained["new-movie"]] + [i for i in resp.items if i.item_id != "new-movie"][:2]
    for item in checked:
        weights = [r.weight for r in item.because]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        for reason in item.because:
            without = [h for h in history if (h if isinstance(h, str) else h["item_id"]) != reason.item_id]
            again = service.recommend(req(without, k=everything, exclude_seen=False)).items
            score = next(i.score for i in again if i.item_id == item.item_id)
            assert np.isclose(item.score - score, reason.weight, atol=1e-4)
    text_reason = next(r for i in resp.items for r in i.because if r.item_id == "outside-0" or r.item_id == "outside-1")
    assert text_reason.domain == "movies" and text_reason.text.startswith(SPACE)


def test_ann_keeps_serving_under_a_catalogue_update(text_bundle, items, tmp_path) -> None:
    """After an update the bundle's ANN index still ranks the bundle's items (removed ones excluded) and the added
    items are scored exactly beside them: the same answers as exact scoring over the updated catalogue."""
    pytest.importorskip("faiss")
    import shutil

    from crossrec.model.ann import AnnConfig
    from crossrec.model.bundle import add_ann_indexes

    bundle = shutil.copytree(text_bundle, tmp_path / "bundle")
    add_ann_indexes(bundle, AnnConfig(kind="hnsw"), targets=["movies"], log=lambda _m: None)
    ann = RecommendationService(bundle, max_history=50, ann_min_items=1, catalogue_dir=tmp_path / "catalogue")
    exact = RecommendationService(bundle, max_history=50, catalogue_dir=tmp_path / "catalogue")
    music, movies = ids(items, "music", 3), ids(items, "movies", 10_000)
    top = ranked(exact.recommend(req(music, k=3)))
    ann.update_catalogue(CatalogueUpdateRequest(
        add=[{"item_id": "new-a", "domain": "movies", "text": str(items.set_index("item_id").text[top[1]])},
             {"item_id": "new-b", "domain": "movies", "text": SPACE}], remove=[top[0]]))
    used = []
    heads = ann.heads.get("movies")
    search = heads.ann.search
    heads.ann.search = lambda *a, **kw: used.append(1) or search(*a, **kw)
    for history, k in ((music, 10), (music + movies[:4] + ["new-b"], len(movies) + 2), (movies[5:9], 5)):
        got, want = (s.recommend(req(history, k=k)) for s in (ann, exact))
        assert ranked(got) == ranked(want) and [i.score for i in got.items] == pytest.approx([i.score for i in want.items])
        assert top[0] not in ranked(got) and not set(history) & set(ranked(got))
    assert len(used) == 3 and "new-a" in ranked(ann.recommend(req(music, k=5)))


def test_embedding_several_calls_at_once_matches_one_by_one(service) -> None:
    """What the Encoder replica's batching runs: one backbone pass for several calls' texts, same rows as calling
    ``embed`` per call, each distinct (adapter, text) encoded once."""
    embedder = service.pipeline.calls.encoder.embedder
    calls = [("movies", [("movies", "alpha one"), ("music", "alpha one")]), ("books", []),
             ("books", [("movies", "alpha one"), ("books", "beta two")])]
    encoded = embedder.encoded
    together = embedder.embed_many(calls)
    assert embedder.encoded - encoded == 3  # movies' adapter, base (music, and movies seen from books), books'
    for (target, pairs), rows in zip(calls, together, strict=True):
        assert rows.shape[0] == len(pairs)
        if pairs:
            assert torch.allclose(rows, embedder.embed(target, pairs))
    assert embedder.encoded - encoded == 3  # the calls one by one hit the cache
