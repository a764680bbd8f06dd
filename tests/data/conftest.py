"""Fixtures for the data tests: a loopback HTTP server and an isolated cache."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    # routes: path -> (body bytes, announced extra bytes); set on the server
    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, extra = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) + extra))  # extra > 0: the body will fall short
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def http_server():
    """A server on 127.0.0.1; ``server.serve(path, body, extra=0)`` adds a route, ``server.url(path)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.routes = {}
    server.hits = []
    server.serve = lambda path, body, extra=0: server.routes.__setitem__(path, (body, extra))
    server.url = lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch):
    """No SEQLAB_DATA_DIR, an empty cache under tmp, downloads allowed."""
    monkeypatch.delenv("SEQLAB_DATA_DIR", raising=False)
    monkeypatch.delenv("SEQLAB_OFFLINE", raising=False)
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path
