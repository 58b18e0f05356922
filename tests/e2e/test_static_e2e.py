"""StaticFiles under waitress and gunicorn, with a real client: sendfile, ranges, 304, traversal."""

from __future__ import annotations

import gzip
import http.client
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.servers import serve, server_log

pytestmark = pytest.mark.e2e

SECRET = b"TOP-SECRET-CONTENTS"
VIDEO = os.urandom(2 * 1024 * 1024 + 123)  # past max_in_memory: goes out via the file wrapper
PAGE = b"<p>" + b"hello " * 170 + b"</p>"  # about 1 KB
SERVERS = ["waitress", "gunicorn"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("static-e2e")
    (base / "secret.txt").write_bytes(SECRET)
    assets = base / "assets"
    assets.mkdir()
    (assets / "video.mp4").write_bytes(VIDEO)
    (assets / "grows.bin").write_bytes(os.urandom(100_000))  # past max_in_memory: from disk
    (assets / "page.html").write_bytes(PAGE)
    (assets / "page.html.gz").write_bytes(gzip.compress(PAGE, 9, mtime=0))
    (assets / ".env").write_bytes(SECRET)
    return assets


@pytest.fixture(scope="module", params=SERVERS)
def base_url(request: pytest.FixtureRequest, root: Path) -> Iterator[str]:
    env = {"STATIC_E2E_ROOT": str(root)}
    with serve("tests.e2e.static_apps:static", server=request.param, env=env) as url:
        yield url


def _logged(base_url: str, line: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if line in server_log(base_url):
            return True
        time.sleep(0.05)
    return False


def test_small_file_and_twin(base_url: str) -> None:
    with requests.Session() as session:
        plain = session.get(base_url + "/static/page.html", timeout=10)
        assert plain.status_code == 200
        assert plain.content == PAGE
        raw = session.get(
            base_url + "/static/page.html",
            headers={"Accept-Encoding": "gzip"},
            timeout=10,
            stream=True,
        )
        assert raw.headers["Content-Encoding"] == "gzip"
        assert raw.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(raw.raw.read()) == PAGE


def test_large_file_reaches_the_server_as_its_file_wrapper(base_url: str) -> None:
    response = requests.get(base_url + "/static/video.mp4", timeout=10)
    assert response.status_code == 200
    assert response.content == VIDEO
    assert _logged(base_url, "BODY /static/video.mp4 range=None file_wrapper=True")


def test_a_file_changed_on_disk_goes_out_with_its_new_headers(base_url: str, root: Path) -> None:
    # The index was built at start-up; the file changes under it.  On one connection, so a body
    # that did not match its Content-Length would corrupt the request after it.
    with requests.Session() as session:
        before = session.get(base_url + "/static/grows.bin", timeout=10)
        assert before.status_code == 200
        new = os.urandom(len(before.content) + 50_000)
        (root / "grows.bin").write_bytes(new)
        after = session.get(base_url + "/static/grows.bin", timeout=10)
        assert after.status_code == 200
        assert after.content == new
        assert after.headers["Content-Length"] == str(len(new))
        assert after.headers["ETag"] != before.headers["ETag"]
        assert session.get(base_url + "/static/page.html", timeout=10).content == PAGE


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        pytest.param("bytes=0-0", 0, 0, id="first-byte-safari"),
        pytest.param("bytes=0-1", 0, 1, id="two-bytes"),
        pytest.param("bytes=-1", len(VIDEO) - 1, len(VIDEO) - 1, id="last-byte"),
        pytest.param("bytes=1000-1999999", 1000, 1999999, id="middle"),
        pytest.param("bytes=2000000-", 2000000, len(VIDEO) - 1, id="open-end"),
    ],
)
def test_video_ranges_through_the_file_wrapper(
    base_url: str, header: str, first: int, last: int
) -> None:
    with requests.Session() as session:  # one connection: extra bytes would corrupt the next
        for _ in range(2):
            response = session.get(
                base_url + "/static/video.mp4", headers={"Range": header}, timeout=10
            )
            assert response.status_code == 206
            assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(VIDEO)}"
            assert response.content == VIDEO[first : last + 1]
        after = session.get(base_url + "/static/page.html", timeout=10)
        assert after.content == PAGE
    # gunicorn and waitress stop at Content-Length, so a large 206 keeps sendfile too; a range
    # that fits max_in_memory (64 KiB) is read in one call instead.
    large = last - first + 1 > 64 * 1024
    assert _logged(base_url, f"BODY /static/video.mp4 range={header} file_wrapper={large}")


def test_unsatisfiable_range_and_304(base_url: str) -> None:
    url = base_url + "/static/video.mp4"
    response = requests.get(url, headers={"Range": f"bytes={len(VIDEO)}-"}, timeout=10)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(VIDEO)}"
    etag = requests.head(url, timeout=10).headers["ETag"]
    response = requests.get(url, headers={"If-None-Match": f'"x", W/{etag}'}, timeout=10)
    assert response.status_code == 304
    assert response.headers["ETag"] == etag


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%2e%2e%5csecret.txt",
        "/static/%c0%ae%c0%ae/secret.txt",
        "/static//%2e%2e/secret.txt",
        "/static/page.html%00.txt",
        "/static/.env",
    ],
)
def test_raw_hostile_paths_never_leak(base_url: str, path: str) -> None:
    # http.client sends the path as written (requests would normalise the dots away).
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status in (400, 404), (path, response.status)
    assert SECRET not in body
