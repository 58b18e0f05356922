"""The whole recommended stack under a real server, with an app that fails in every way and
clients that go away: each body is closed once, the server sees each error, the log says what
happened, and the server keeps serving."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.servers import serve, server_log

pytestmark = pytest.mark.e2e

APP = "tests.e2e.full_stack_apps:served"
BIG = bytes(range(256)) * 8192  # 2 MiB, served by StaticFiles through the server's file_wrapper

# path -> (status in the log, outcome, error.type, the exception's text the server must log)
EXPECTED: dict[str, tuple[int, str, str | None, str | None]] = {
    "/raise-before": (500, "error", "Fault", "before start_response for /raise-before"),
    "/raise-after-start": (500, "error", "Fault", "after start_response for /raise-after-start"),
    "/api/raise-midway": (200, "error", "Fault", "failed at chunk 4"),
    "/raise-in-close": (200, "error", "Fault", "close failed for /raise-in-close"),
    "/exc-info-before": (500, "completed", None, None),
    "/exc-info-after": (200, "error", "Fault", "after the body started for /exc-info-after"),
    "/endless": (200, "disconnected", None, None),
    "/api/ok": (200, "completed", None, None),
}
BODIES = ["/api/raise-midway", "/raise-in-close", "/exc-info-before", "/exc-info-after",
          "/endless", "/api/ok"]  # fmt: skip


def _raw(port: int, path: str, *, read: int | None = None) -> bytes:
    """GET ``path``; read to the end (or ``read`` bytes, then hang up); the raw bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while read is None or len(received) < read:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        return received


def _lines(path: Path, paths: set[str], timeout: float = 20.0) -> dict[str, list[dict[str, Any]]]:
    """The access lines by path, once every path in ``paths`` has one (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        by_path: dict[str, list[dict[str, Any]]] = {}
        for line in text.splitlines():
            record = json.loads(line)
            by_path.setdefault(record["url.path"], []).append(record)
        if paths <= set(by_path) or time.monotonic() > deadline:
            return by_path
        time.sleep(0.05)


def _closes(base_url: str, wanted: list[str], timeout: float = 20.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        closes: dict[str, int] = requests.get(f"{base_url}/closes", timeout=10).json()
        if all(closes.get(key) for key in wanted) or time.monotonic() > deadline:
            return closes
        time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Any]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "big.bin").write_bytes(BIG)
    access = tmp_path / "access.log"
    return {"access": access, "env": {"FS_STATIC": str(static), "FS_ACCESS_LOG": str(access)}}


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_faults_through_the_full_stack_under_a_real_server(
    server: str, site: dict[str, Any]
) -> None:
    # One gunicorn worker, so /closes counts every body (the counts live in the process).
    with serve(APP, server=server, workers=1, threads=4, env=site["env"]) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        before = requests.get(f"{base_url}/raise-before", timeout=10)
        after_start = requests.get(f"{base_url}/raise-after-start", timeout=10)
        midway = _raw(port, "/api/raise-midway")
        in_close = _raw(port, "/raise-in-close")
        page = requests.get(f"{base_url}/exc-info-before", timeout=10)
        restart = _raw(port, "/exc-info-after")
        gone = _raw(port, "/endless", read=16384)
        static_gone = _raw(port, "/static/big.bin", read=65536)
        ok = requests.get(f"{base_url}/api/ok", timeout=10)
        lines = _lines(site["access"], set(EXPECTED) | {"/static/big.bin"})
        closes = _closes(base_url, BODIES)
        # The server keeps serving: the whole file, after a client left in its middle.
        whole = requests.get(f"{base_url}/static/big.bin", timeout=10)
        errors = server_log(base_url)

    # What the clients saw: a 500 when nothing had been sent, a cut body after the headers.
    assert (before.status_code, after_start.status_code) == (500, 500)
    assert midway.startswith(b"HTTP/1.1 200")
    assert not midway.endswith(b"0\r\n\r\n")
    assert midway.count(b"x") < 8 * 4096
    assert in_close.startswith(b"HTTP/1.1 200")
    assert (page.status_code, page.content) == (500, b"an error page")
    assert restart.startswith(b"HTTP/1.1 200")
    assert b"never sent" not in restart
    assert gone.startswith(b"HTTP/1.1 200")
    assert static_gone.startswith(b"HTTP/1.1 200")
    assert (ok.status_code, ok.content) == (200, b"x" * 8192)
    assert (whole.status_code, whole.content) == (200, BIG)

    # Every body the app returned was closed exactly once, also when the client went away.
    assert {key: closes.get(key) for key in BODIES} == dict.fromkeys(BODIES, 1)

    # The error reached the server (it logged each one), and one access line says what happened.
    for path, (status, outcome, error, message) in EXPECTED.items():
        (line,) = lines[path]
        assert (line["http.response.status_code"], line["outcome"]) == (status, outcome), path
        assert line.get("error.type") == error, path
        if message is not None:
            assert message in errors, (path, errors[-2000:])
    first_static = lines["/static/big.bin"][0]
    assert first_static["http.response.status_code"] == 200
    assert first_static["http.response.body.size"] <= len(BIG)
    # A sendfile server (gunicorn) or one that buffered the whole file before the client left
    # has really sent it all; otherwise the line marks the disconnect.
    assert first_static["outcome"] in ("completed", "disconnected")
    assert "error.type" not in first_static
