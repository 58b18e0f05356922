"""RequestLogger under waitress with several threads: concurrent requests, each logged once
with its own id; the app's own records carry that id; sendfile kept; disconnects and errors."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e

APP = "tests.e2e.request_log_apps:served"


def _read_json_lines(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The access lines, once ``count`` are there (a line is written after the body's close)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        lines = [json.loads(line) for line in text.splitlines() if line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Any]:
    access, app_log = tmp_path / "access.log", tmp_path / "app.log"
    return {
        "access": access,
        "app": app_log,
        "env": {"RL_ACCESS_LOG": str(access), "RL_APP_LOG": str(app_log)},
    }


def test_concurrent_requests_are_each_logged_once_with_their_own_id(logs: dict[str, Any]) -> None:
    ids = [f"e2e-{n:02d}" for n in range(24)]
    with serve(APP, server="waitress", threads=8, env=logs["env"]) as base_url:

        def fetch(rid: str) -> requests.Response:
            return requests.get(f"{base_url}/{rid}", headers={"X-Request-ID": rid}, timeout=10)

        def fetch_anonymous(n: int) -> requests.Response:
            return requests.get(f"{base_url}/anon-{n}", timeout=10)

        with ThreadPoolExecutor(max_workers=12) as pool:
            named = list(pool.map(fetch, ids))
            anonymous = list(pool.map(fetch_anonymous, range(8)))
        lines = _read_json_lines(logs["access"], len(ids) + 8)

    for rid, response in zip(ids, named, strict=True):
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == rid
        assert response.text == "".join(f"/{rid} chunk {i}\n" for i in range(3))
    generated = [r.headers["X-Request-ID"] for r in anonymous]
    assert len(set(generated)) == 8

    assert len(lines) == len(ids) + 8  # every request once, none twice
    by_id = {line["request_id"]: line for line in lines}
    assert set(by_id) == set(ids) | set(generated)
    for rid in ids:
        line = by_id[rid]
        assert line["url.path"] == f"/{rid}"
        assert line["http.response.status_code"] == 200
        assert line["http.response.body.size"] == len(named[ids.index(rid)].content)
        assert line["outcome"] == "completed"
        assert line["client.address"] == "127.0.0.1"
        assert line["duration_ms"] >= 40  # three 20 ms pauses between chunks, minus the first

    # The app's own records, written from 8 server threads, each carry their request's id,
    # during the call and during the iteration that happens in the server's frame.
    app_lines = logs["app"].read_text(encoding="utf-8").splitlines()
    for rid in ids:
        mine = [line for line in app_lines if f"/{rid} " in line or line.endswith(f"/{rid}")]
        assert mine == [
            f"{rid} called for /{rid}",
            *(f"{rid} chunk {i} of /{rid} (context says {rid})" for i in range(3)),
        ]
    # Outside the logged layer (here, in the layer around it) there is no request id.
    outer = [line for line in app_lines if "server gets" in line]
    assert len(outer) == len(ids) + 8
    assert all(line.startswith("- server gets ") for line in outer), outer
    assert all(line.endswith(", its file_wrapper: False") for line in outer), outer


def test_file_wrapper_reaches_waitress_as_its_own_buffer(logs: dict[str, Any]) -> None:
    with serve(APP, server="waitress", threads=4, env=logs["env"]) as base_url:
        response = requests.get(f"{base_url}/file", headers={"X-Request-ID": "file-1"}, timeout=10)
        (line,) = _read_json_lines(logs["access"], 1)
    assert response.status_code == 200
    assert len(response.content) == 65536
    # waitress took its file-buffer path: it sized the body from the file itself.
    assert response.headers["Content-Length"] == "65536"
    assert line["http.response.body.size"] == 65536
    assert line["outcome"] == "completed"
    app_log = logs["app"].read_text(encoding="utf-8")
    assert "file-1 file wrapper class ReadOnlyFileBasedBuffer" in app_log
    assert "- server gets ReadOnlyFileBasedBuffer, its file_wrapper: True" in app_log


def test_app_error_is_logged_as_500(logs: dict[str, Any]) -> None:
    with serve(APP, server="waitress", threads=4, env=logs["env"]) as base_url:
        response = requests.get(f"{base_url}/fail", headers={"X-Request-ID": "fail-1"}, timeout=10)
        (line,) = _read_json_lines(logs["access"], 1)
    assert response.status_code == 500
    assert line["http.response.status_code"] == 500
    assert line["outcome"] == "error"
    assert line["error.type"] == "RuntimeError"
    assert line["request_id"] == "fail-1"


def test_client_disconnect_is_marked(logs: dict[str, Any]) -> None:
    with serve(APP, server="waitress", threads=4, env=logs["env"]) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\nX-Request-ID: gone-1\r\n\r\n")
            received = sock.recv(65536)
        lines = _read_json_lines(logs["access"], 1, timeout=15)
    assert received.startswith(b"HTTP/1.1 200")
    (line,) = lines
    assert line["request_id"] == "gone-1"
    assert line["outcome"] == "disconnected"
    assert line["http.response.body.size"] > 0
