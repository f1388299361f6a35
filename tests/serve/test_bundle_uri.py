"""Bundles on object storage: published to an S3 API server started here (moto's standalone server), loaded and
served from the ``s3://`` URI; bad URIs, unreachable storage and half-written uploads give one-line errors."""

from __future__ import annotations

from pathlib import Path

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


def test_refused_credentials_fail_in_one_line(monkeypatch) -> None:
    """An S3 endpoint that refuses the request's credentials (403 InvalidAccessKeyId, as S3 answers a missing or
    wrong key): one line naming the URI, nothing staged."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access '
            b"Key Id you provided does not exist in our records.</Message></Error>")

    class Refuse(BaseHTTPRequestHandler):
        def _deny(self) -> None:
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = _deny

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for call in (lambda: stage("s3://crossrec/bundles/tiny"),
                     lambda: publish_dir(Path(__file__).parent, "s3://crossrec/bundles/new")):
            with pytest.raises(StorageError, match=r"^s3://crossrec/bundles/(tiny|new)\S*: cannot (read|write): ") as err:
                call()
            assert "\n" not in str(err.value)
    finally:
        server.shutdown()


@pytest.mark.ray
def test_serve_deploys_a_bundle_from_s3(s3, serve_bundle, local_ray) -> None:
    """The Serve app with ``args.bundle: s3://…``: every replica stages the bundle itself and answers."""
    import httpx
    from ray import serve

    from crossrec.benchmarks.serving import free_port, wait_ready
    from crossrec.serve.app import build_app

    uri = publish_dir(serve_bundle, "s3://crossrec/bundles/served")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app({"bundle": uri, "layout": "fused"}), name="crossrec", route_prefix="/")
        wait_ready(f"http://127.0.0.1:{port}")
        got = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"target_domain": "movies", "k": 3}, timeout=60)
        assert got.status_code == 200 and len(got.json()["items"]) == 3
    finally:
        serve.shutdown()
