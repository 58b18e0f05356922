"""Compress through waitress and gunicorn, decoded by a real client (requests/urllib3)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

import brotli
import pytest
import requests

from middlewares import _codecs
from tests.e2e.compress_apps import EVENT_GAP, EVENTS, PAGE
from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["waitress", "gunicorn"])
def page_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve("tests.e2e.compress_apps:page", server=request.param) as base_url:
        yield base_url


@pytest.fixture(scope="module", params=["waitress", "gunicorn"])
def events_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve("tests.e2e.compress_apps:events", server=request.param) as base_url:
        yield base_url


def decode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return zlib.decompress(data, 31)
    if coding == "br":
        return bytes(brotli.decompress(data))
    binding = _codecs.zstd_module()
    assert binding is not None
    kind, module = binding
    if kind == "stdlib":
        return bytes(module.decompress(data))
    return bytes(module.ZstdDecompressor().decompressobj().decompress(data))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_page_is_compressed_with_exact_length(page_url: str, coding: str) -> None:
    accept = {"Accept-Encoding": f"{coding}, identity;q=0.5"}
    with requests.get(page_url, headers=accept, stream=True, timeout=10) as response:
        wire = response.raw.read(decode_content=False)
        headers = response.headers
    assert headers["Content-Encoding"] == coding
    assert headers["Content-Length"] == str(len(wire))
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["ETag"] == 'W/"page-v1"'
    assert decode(coding, wire) == PAGE


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_the_client_decodes_it(page_url: str, coding: str) -> None:
    # urllib3 decodes gzip itself, and br when the brotli package is installed.
    response = requests.get(page_url, headers={"Accept-Encoding": coding}, timeout=10)
    assert response.headers["Content-Encoding"] == coding
    assert response.content == PAGE


def test_q_zero_gets_identity(page_url: str) -> None:
    response = requests.get(page_url, headers={"Accept-Encoding": "gzip;q=0"}, timeout=10)
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.content == PAGE


def test_304_revalidates_the_compressed_copy(page_url: str) -> None:
    # The client holds the compressed page, W/"page-v1"; the 304 must say so, with its Vary.
    with requests.Session() as session:
        page = session.get(page_url, headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert page.headers["ETag"] == 'W/"page-v1"'
        again = session.get(
            page_url,
            headers={"Accept-Encoding": "gzip", "If-None-Match": page.headers["ETag"]},
            timeout=10,
        )
        assert again.status_code == 304
        assert again.headers["ETag"] == 'W/"page-v1"'
        assert again.headers["Vary"] == "Accept-Encoding"


def test_head_gets_the_get_headers(page_url: str) -> None:
    get = requests.get(page_url, headers={"Accept-Encoding": "br"}, timeout=10)
    head = requests.head(page_url, headers={"Accept-Encoding": "br"}, timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("Content-Encoding", "Content-Length", "Vary", "ETag"):
        assert head.headers.get(name) == get.headers.get(name), name


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_event_stream_arrives_event_by_event(events_url: str, coding: str) -> None:
    arrivals: list[tuple[float, bytes]] = []
    accept = {"Accept-Encoding": coding}
    with requests.get(events_url, headers=accept, stream=True, timeout=10) as response:
        assert response.headers["Content-Encoding"] == coding
        assert "Content-Length" not in response.headers
        start = time.monotonic()
        for piece in response.iter_content(chunk_size=None):
            if piece:
                arrivals.append((time.monotonic() - start, piece))
    assert b"".join(piece for _, piece in arrivals) == b"".join(EVENTS)
    # Each event is decoded when it arrives, not when the stream ends: the first is in hand
    # before the app sends the second, and the pieces are spread over the app's pauses.
    assert arrivals[0][1] == EVENTS[0]
    assert arrivals[0][0] < EVENT_GAP
    assert len(arrivals) == len(EVENTS)
    assert arrivals[-1][0] - arrivals[0][0] >= EVENT_GAP * (len(EVENTS) - 2)
