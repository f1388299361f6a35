"""Bundles on object storage: published to an S3 API server started here (moto's standalone server), loaded and
served from the ``s3://`` URI; bad URIs, unreachable storage and half-written uploads give one-line errors."""

from __future__ import annotations

import pytest

from crossrec.utils.storage import StorageError, publish_dir, stage


def test_a_bundle_on_s3_loads_and_serves_like_the_local_one(s3, serve_bundle) -> None:
    from crossrec.model.bundle import ModelBundle
    from crossrec.serve.pipeline import RecommendationService
    from crossrec.serve.schemas import RecommendRequest

    uri = publish_dir(serve_bundle, "s3://crossrec/bundles/tiny")
    local = ModelBundle.load(serve_bundle, targets=[])
    remote = ModelBundle.load(uri, targets=[])  # staged into the cache, checksum-verified
    assert remote.version == local.version and remote.path != serve_bundle
    assert stage(uri) == remote.path  # staged once per manifest: the second load reads the cached copy
    req = RecommendRequest(target_domain="movies", history=[{"item_id": str(local.item_index.item_ids[1])}], k=5)
    got, want = (RecommendationService(b).respond_many([req])[0] for b in (uri, serve_bundle))
    assert [i["item_id"] for i in got["items"]] == [i["item_id"] for i in want["items"]]


def test_a_half_written_upload_is_never_read(s3, serve_bundle, tmp_path) -> None:
    import shutil

    partial = shutil.copytree(serve_bundle, tmp_path / "partial")
    (partial / "manifest.json").unlink()  # an upload that stopped before its last file
    uri = publish_dir(partial, "s3://crossrec/bundles/partial")
    with pytest.raises(StorageError, match=r"^s3://crossrec/bundles/partial: no manifest.json \(not a complete upload\)$"):
        stage(uri)


def test_serve_builder_refuses_a_uri_without_a_bundle(s3) -> None:
    from crossrec.errors import ConfigError
    from crossrec.serve.app import build_app

    with pytest.raises(ConfigError, match="args.bundle: 's3://crossrec/nothing' holds no complete crossrec bundle"):
        build_app({"bundle": "s3://crossrec/nothing"})


@pytest.mark.parametrize("uri, message", [
    ("ftp://host/bundle", r"^ftp://host/bundle: unsupported storage scheme 'ftp'"),
    ("s3://no-such-bucket/x", r"^s3://no-such-bucket/x: no manifest.json|^s3://no-such-bucket/x: not found|cannot read"),
])
def test_bad_uris_fail_in_one_line_naming_the_uri(s3, uri, message) -> None:
    with pytest.raises(StorageError, match=message) as err:
        stage(uri)
    assert "\n" not in str(err.value)


def test_unreachable_storage_fails_in_one_line(s3, monkeypatch) -> None:
    from crossrec.benchmarks.serving import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(StorageError, match=r"^s3://crossrec/bundles/tiny: cannot read: ") as err:
        stage("s3://crossrec/bundles/tiny")
    assert "\n" not in str(err.value)
