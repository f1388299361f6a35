"""The load generator (crossrec.serve.loadgen) against a stdlib HTTP server: one kept-alive connection per
client, retries of 503 and refused connections, the result's counts. No Ray, no Serve."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crossrec.serve.loadgen import run_load


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fail_first, self.lock = fail_first, threading.Lock()
        self.bodies: list[dict] = []
        self.peers: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.server.lock:
            self.server.bodies.append(body)
            self.server.peers.add(self.client_address[1])
            status = 503 if len(self.server.bodies) <= self.server.fail_first else 200
        payload = b'{"ok": true}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    def make(fail_first: int = 0) -> Server:
        srv = Server(fail_first)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    servers: list[Server] = []
    yield make
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_clients_keep_one_connection_each_and_send_bodies_round_robin(server) -> None:
    srv = server()
    result = run_load(srv.url, [{"n": 0}, {"n": 1}], concurrency=3, duration_s=30, max_requests=30)
    assert (result.requests, result.errors, result.retried, result.statuses) == (30, 0, 0, {"200": 30})
    assert len(srv.peers) == 3  # one kept-alive connection per client, none re-opened
    assert sorted(b["n"] for b in srv.bodies) == [0] * 15 + [1] * 15
    assert result.p50_ms > 0 and result.rps > 0 and len(result.events) == 30


def test_503_is_retried_with_back_off_and_counted(server) -> None:
    srv = server(fail_first=2)
    result = run_load(srv.url, [{}], concurrency=1, duration_s=30, max_requests=3, retries=3)
    assert (result.requests, result.errors, result.retried, result.statuses) == (3, 0, 2, {"200": 3})
    srv = server(fail_first=100)
    result = run_load(srv.url, [{}], concurrency=1, duration_s=30, max_requests=2, retries=1)
    assert (result.requests, result.errors, result.retried, result.statuses) == (0, 2, 2, {"503": 2})
    assert [ok for _, ok in result.events] == [False, False]


def test_a_refused_connection_is_status_0() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_load(f"http://127.0.0.1:{port}", [{}], concurrency=2, duration_s=30, max_requests=4, retries=1)
    assert (result.requests, result.errors, result.retried, result.statuses) == (0, 4, 4, {"0": 4})


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="only targets loopback"):
        run_load("http://example.com:8000", [{}], 1, duration_s=0.1, max_requests=1)
