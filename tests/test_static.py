"""StaticFiles: every rule in both modes (index built at start-up, autorefresh per request)."""

from __future__ import annotations

import gzip
import io
import os
import re
import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webtest import TestApp

import middlewares.static as static_module
from middlewares._http_cache import http_date
from middlewares.static import FileBody, StaticFiles
from tests.wsgi_helpers import drive

SECRET = b"TOP-SECRET-CONTENTS"
JS = b"function hello() { return 'hello, world'; }\n" * 60
BIG = bytes(range(256)) * 1024  # 256 KiB: past max_in_memory, so it is read from disk
VIDEO = os.urandom(100_000)


def fallback(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The wrapped app: says it was reached, so a test can tell a fall-through from a 404."""
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-App", "yes")])
    return [b"app: " + environ["PATH_INFO"].encode("latin-1")]


def _write(path: Path, data: bytes, mtime: int = 1_700_000_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("static")
    root = base / "assets"
    _write(base / "secret.txt", SECRET)
    _write(base / "outside" / "passwd", SECRET)
    _write(root / "hello.txt", b"Hello, static!")
    _write(root / "app.js", JS)
    _write(root / "app.js.gz", gzip.compress(JS, 9, mtime=0))
    _write(root / "app.js.br", brotli.compress(JS, quality=11))
    _write(root / "app.js.zst", zstandard.ZstdCompressor(level=19).compress(JS))
    _write(root / "style.0123abcd.css", b"body { color: red }")
    _write(root / "big.bin", BIG)
    _write(root / "video.mp4", VIDEO)
    _write(root / "data.tar.gz", gzip.compress(b"tar bytes", mtime=0))
    _write(root / "empty.txt", b"")
    _write(root / "café.txt", b"accented")
    _write(root / ".env", SECRET)
    _write(root / ".git" / "config", SECRET)
    _write(root / "docs" / "index.html", b"<h1>docs</h1>")
    _write(root / "index.html", b"<h1>home</h1>")
    _write(root / "sub" / "dir" / "file.txt", b"deep")
    # A stale twin: older than the file it was made from.
    _write(root / "stale.css", b"new " * 100, mtime=1_700_000_100)
    _write(root / "stale.css.gz", gzip.compress(b"old " * 100, mtime=0), mtime=1_700_000_000)
    # Twins whose sizes put gzip before br (smallest accepted first).
    _write(root / "order.txt", b"x" * 1000)
    _write(root / "order.txt.br", b"B" * 300)
    _write(root / "order.txt.gz", b"G" * 200)
    (root / "link_out").symlink_to(base / "secret.txt")
    (root / "dirlink_out").symlink_to(base / "outside")
    (root / "link_in").symlink_to(root / "hello.txt")
    os.mkfifo(root / "fifo.txt")  # opening it would block forever: never a file to serve
    return root


MODES = ["index", "autorefresh"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(tree: Path, mode: str) -> Callable[..., StaticFiles]:
    def factory(**options: Any) -> StaticFiles:
        options.setdefault("directories", {"/static": tree})
        return StaticFiles(fallback, autorefresh=mode == "autorefresh", **options)

    return factory


@pytest.fixture
def client(make: Callable[..., StaticFiles]) -> TestApp:
    return TestApp(make(headers={"Access-Control-Allow-Origin": "*"}), lint=True)


def head(resp: Any, name: str) -> str | None:
    value = resp.headers.get(name)
    return None if value is None else str(value)


# --- plain serving ------------------------------------------------------------------------


def test_serves_a_small_file_with_every_header(client: TestApp) -> None:
    resp = client.get("/static/hello.txt")
    assert resp.status_int == 200
    assert resp.body == b"Hello, static!"
    assert head(resp, "Content-Type") == "text/plain; charset=utf-8"
    assert head(resp, "Content-Length") == "14"
    assert head(resp, "Last-Modified") == http_date(1_700_000_000)
    assert head(resp, "Cache-Control") == "max-age=60, public"
    assert head(resp, "Accept-Ranges") == "bytes"
    assert head(resp, "Access-Control-Allow-Origin") == "*"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', head(resp, "ETag") or "")
    assert head(resp, "Vary") is None  # no twins: nothing varies


def test_serves_a_large_file_from_disk(client: TestApp) -> None:
    resp = client.get("/static/big.bin")
    assert resp.body == BIG
    assert head(resp, "Content-Length") == str(len(BIG))
    assert head(resp, "Content-Type") == "application/octet-stream"


def test_ignores_the_query_string(client: TestApp) -> None:
    assert client.get("/static/hello.txt?v=3").body == b"Hello, static!"


def test_non_ascii_file_names(client: TestApp) -> None:
    assert client.get("/static/caf%C3%A9.txt").body == b"accented"


def test_empty_file(client: TestApp) -> None:
    resp = client.get("/static/empty.txt", headers={"Range": "bytes=0-0"})
    assert resp.status_int == 200
    assert resp.body == b""
    assert head(resp, "Content-Length") == "0"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/", id="outside-prefix"),
        pytest.param("/staticfoo/hello.txt", id="prefix-is-not-a-segment"),
        pytest.param("/static/missing.txt", id="missing"),
        pytest.param("/static/sub", id="directory-without-index"),
        pytest.param("/static/hello.txt/", id="file-with-slash"),
        pytest.param("/static/%252e%252e/secret.txt", id="double-encoded-is-a-name"),
    ],
)
def test_what_is_not_a_file_goes_to_the_app(client: TestApp, path: str) -> None:
    resp = client.get(path, status=404)
    assert head(resp, "X-App") == "yes"


def test_head_has_the_get_headers_and_no_body(client: TestApp) -> None:
    get = client.get("/static/big.bin")
    resp = client.head("/static/big.bin", headers={"Range": "bytes=0-0"})
    assert resp.status_int == 200  # Range is for GET only (RFC 9110 section 14.2)
    assert resp.body == b""
    assert resp.headers == get.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_on_a_file_get_405(client: TestApp, method: str) -> None:
    resp = client.request("/static/hello.txt", method=method, status=405)
    assert head(resp, "Allow") == "GET, HEAD"
    assert head(resp, "Access-Control-Allow-Origin") == "*"
    assert b"Hello" not in resp.body


def test_other_methods_on_a_missing_file_go_to_the_app(client: TestApp) -> None:
    resp = client.post("/static/upload", status=404)
    assert head(resp, "X-App") == "yes"


def test_mimetypes_override_and_archives_keep_their_own_type(
    make: Callable[..., StaticFiles],
) -> None:
    client = TestApp(make(mimetypes={".txt": "text/x-custom"}))
    assert head(client.get("/static/hello.txt"), "Content-Type") == "text/x-custom"
    resp = client.get("/static/data.tar.gz", headers={"Accept-Encoding": "gzip"})
    assert head(resp, "Content-Type") == "application/gzip"
    assert head(resp, "Content-Encoding") is None
    assert resp.body == gzip.compress(b"tar bytes", mtime=0)


def test_immutable_files_are_cached_for_a_year(client: TestApp) -> None:
    resp = client.get("/static/style.0123abcd.css")
    assert head(resp, "Cache-Control") == "max-age=31536000, public, immutable"
    assert head(resp, "Content-Type") == "text/css; charset=utf-8"


def test_max_age_none_sends_no_cache_control(make: Callable[..., StaticFiles]) -> None:
    resp = TestApp(make(max_age=None, immutable=None)).get("/static/style.0123abcd.css")
    assert head(resp, "Cache-Control") is None


def test_several_directories_longest_prefix_wins(tree: Path, mode: str) -> None:
    app = StaticFiles(
        fallback,
        directories={"/static": tree, "/static/sub": tree / "docs", "/other/": tree / "sub"},
        autorefresh=mode == "autorefresh",
    )
    client = TestApp(app)
    assert client.get("/static/sub/").body == b"<h1>docs</h1>"
    assert client.get("/other/dir/file.txt").body == b"deep"
    assert client.get("/static/hello.txt").body == b"Hello, static!"
    assert head(client.get("/static/sub/dir/file.txt", status=404), "X-App") == "yes"


# --- index files and redirects ----------------------------------------------------------


def test_directory_index(client: TestApp) -> None:
    assert client.get("/static/docs/").body == b"<h1>docs</h1>"
    assert client.get("/static/").body == b"<h1>home</h1>"


def test_directory_without_slash_redirects(client: TestApp) -> None:
    resp = client.get("/static/docs?page=2", status=302)
    assert head(resp, "Location") == "/static/docs/?page=2"  # relative: RFC 9110 10.2.2
    assert client.get("/static", status=302).headers["Location"].endswith("/static/")


def test_redirect_keeps_script_name_and_never_leaves_the_host(tree: Path, mode: str) -> None:
    app = StaticFiles(fallback, directories={"/s": tree}, autorefresh=mode == "autorefresh")
    # A broken server or a careless middleware may set SCRIPT_NAME="/" (wsgiref.validate
    # refuses it): "//s/docs/" would then name the host "s".
    result = drive(app, environ={"SCRIPT_NAME": "/", "PATH_INFO": "/s/docs"}, validate=False)
    location = dict(result.headers)["Location"]
    assert location == "/s/docs/"
    result = drive(app, environ={"SCRIPT_NAME": "/mount", "PATH_INFO": "/s/docs"})
    assert dict(result.headers)["Location"] == "/mount/s/docs/"


def test_root_mount_redirects_its_own_url_to_a_slash(tmp_path: Path, mode: str) -> None:
    # Mounted at SCRIPT_NAME=/app, a request for "/app" arrives with PATH_INFO "".
    _write(tmp_path / "index.html", b"<h1>home</h1>")
    app = StaticFiles(fallback, directories={"/": tmp_path}, autorefresh=mode == "autorefresh")
    result = drive(app, environ={"SCRIPT_NAME": "/app", "PATH_INFO": ""})
    assert result.status == "302 Found"
    assert dict(result.headers)["Location"] == "/app/"


def test_root_mount_redirect_of_an_empty_path_stays_on_the_host(tmp_path: Path, mode: str) -> None:
    # Both empty (PEP 3333 allows it): "/" + "" + "/" would be "//", a network-path reference.
    _write(tmp_path / "index.html", b"<h1>home</h1>")
    app = StaticFiles(fallback, directories={"/": tmp_path}, autorefresh=mode == "autorefresh")
    result = drive(app, environ={"SCRIPT_NAME": "", "PATH_INFO": ""})
    assert dict(result.headers)["Location"] == "/"


def test_index_none_disables_directory_urls(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(index=None))
    assert head(client.get("/static/docs/", status=404), "X-App") == "yes"
    assert head(client.get("/static/docs", status=404), "X-App") == "yes"


# --- conditional requests ---------------------------------------------------------------


def _etag(client: TestApp, path: str = "/static/hello.txt", **headers: str) -> str:
    return str(client.get(path, headers=headers).headers["ETag"])


def test_if_none_match_gives_304_with_cache_headers(client: TestApp) -> None:
    etag = _etag(client, "/static/app.js")
    resp = client.get("/static/app.js", headers={"If-None-Match": etag}, status=304)
    assert resp.body == b""
    assert head(resp, "ETag") == etag
    assert head(resp, "Cache-Control") == "max-age=60, public"
    assert head(resp, "Vary") == "Accept-Encoding"
    assert head(resp, "Access-Control-Allow-Origin") == "*"
    assert head(resp, "Content-Type") is None
    assert head(resp, "Content-Length") is None


@pytest.mark.parametrize(
    ("template", "status"),
    [
        pytest.param("{etag}", 304, id="exact"),
        pytest.param('"other", {etag}', 304, id="list"),
        pytest.param('"a,b", W/{etag} ,"c"', 304, id="list-with-comma-in-tag"),
        pytest.param("W/{etag}", 304, id="weak-matches-weakly"),
        pytest.param("*", 304, id="star"),
        pytest.param(' "other" ', 200, id="no-match"),
        pytest.param("{bare}", 200, id="unquoted-is-malformed"),
        pytest.param("{etag} garbage", 200, id="malformed"),
    ],
)
def test_if_none_match_forms(client: TestApp, template: str, status: int) -> None:
    etag = _etag(client)
    header = template.format(etag=etag, bare=etag.strip('"'))
    client.get("/static/hello.txt", headers={"If-None-Match": header}, status=status)


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        pytest.param(0, 304, id="same-time"),
        pytest.param(3600, 304, id="later"),
        pytest.param(-1, 200, id="earlier"),
    ],
)
def test_if_modified_since(client: TestApp, offset: int, status: int) -> None:
    since = http_date(1_700_000_000 + offset)
    client.get("/static/hello.txt", headers={"If-Modified-Since": since}, status=status)


def test_if_modified_since_in_the_obsolete_formats(client: TestApp) -> None:
    for since in ("Tuesday, 14-Nov-23 22:13:20 GMT", "Tue Nov 14 22:13:20 2023"):
        client.get("/static/hello.txt", headers={"If-Modified-Since": since}, status=304)


def test_if_modified_since_is_ignored_with_if_none_match(client: TestApp) -> None:
    headers = {"If-None-Match": '"other"', "If-Modified-Since": http_date(1_800_000_000)}
    client.get("/static/hello.txt", headers=headers, status=200)


def test_if_modified_since_rfc850_year_far_ahead_is_in_the_past(client: TestApp) -> None:
    # RFC 9110 section 5.6.7: "94" is 1994, not 2094 (more than 50 years ahead).
    since = "Sunday, 06-Nov-94 08:49:37 GMT"
    client.get("/static/hello.txt", headers={"If-Modified-Since": since}, status=200)


# RFC 9110 sections 13.1.3 and 13.1.4: a recipient MUST ignore a value that is not a valid
# HTTP-date (section 5.6.7).  Read leniently, each would be a date in {year}.
INVALID_DATES = [
    pytest.param("yesterday", id="not-a-date"),
    pytest.param("Sun, 06 Dec {year} 08:49:37 GMT, Mon, 07 Dec {year} 08:49:37 GMT", id="list"),
    pytest.param("Sun, 06 Dec {year} 08:49:37 GMT garbage", id="trailing-garbage"),
    pytest.param("Sun, 32 Nov {year} 08:49:37 GMT", id="day-32"),
    pytest.param("Sun, 29 Feb {year} 08:49:37 GMT", id="feb-29-not-a-leap-year"),
    pytest.param("Sun, 06 Dec {year} 24:00:00 GMT", id="hour-24"),
    pytest.param("Sun, 06 Dec {year} 08:60:00 GMT", id="minute-60"),
    pytest.param("Sun, 06 dec {year} 08:49:37 GMT", id="lowercase-month"),
    pytest.param("Sun, 06 Dec {year} 08:49:37 +0000", id="numeric-zone"),
    pytest.param("Sun, 6 Dec {year} 08:49:37 GMT", id="one-digit-day"),
    pytest.param("Sun Dec  6 08:49:37 {year} GMT", id="asctime-with-zone"),
]


@pytest.mark.parametrize("template", INVALID_DATES)
def test_invalid_if_modified_since_is_ignored(client: TestApp, template: str) -> None:
    since = template.format(year=2025)  # after the file's date: a 304 if it were read
    client.get("/static/hello.txt", headers={"If-Modified-Since": since}, status=200)


@pytest.mark.parametrize("template", INVALID_DATES)
def test_invalid_if_unmodified_since_is_ignored(client: TestApp, template: str) -> None:
    since = template.format(year=2021)  # before the file's date: a 412 if it were read
    client.get("/static/hello.txt", headers={"If-Unmodified-Since": since}, status=200)


def test_if_match_and_if_unmodified_since(client: TestApp) -> None:
    etag = _etag(client)
    client.get("/static/hello.txt", headers={"If-Match": etag}, status=200)
    client.get("/static/hello.txt", headers={"If-Match": f'"x", {etag}'}, status=200)
    client.get("/static/hello.txt", headers={"If-Match": "*"}, status=200)
    client.get("/static/hello.txt", headers={"If-Match": f"W/{etag}"}, status=412)
    client.get("/static/hello.txt", headers={"If-Match": '"other"'}, status=412)
    before = http_date(1_600_000_000)
    client.get("/static/hello.txt", headers={"If-Unmodified-Since": before}, status=412)
    after = http_date(1_800_000_000)
    client.get("/static/hello.txt", headers={"If-Unmodified-Since": after}, status=200)


# --- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/hello.txt", "/static/big.bin", "/static/video.mp4"])
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-0", (0, 0), id="first-byte"),
        pytest.param("bytes=-1", (-1, -1), id="last-byte"),
        pytest.param("bytes=3-", (3, -1), id="open-end"),
        pytest.param("bytes=2-5", (2, 5), id="middle"),
        pytest.param("bytes=1-99999999999", (1, -1), id="end-clamped"),
        pytest.param("bytes=-99999999999999999999999", (0, -1), id="huge-suffix"),
        pytest.param("BYTES = 0 - 1", (0, 1), id="unit-case-and-spaces"),
    ],
)
def test_single_ranges_give_206(client: TestApp, path: str, header: str, expected: Any) -> None:
    full = client.get(path).body
    size = len(full)
    first, last = (value % size for value in expected)
    resp = client.get(path, headers={"Range": header}, status=206)
    assert resp.body == full[first : last + 1]
    assert head(resp, "Content-Range") == f"bytes {first}-{last}/{size}"
    assert head(resp, "Content-Length") == str(last - first + 1)
    assert head(resp, "ETag") == head(client.get(path), "ETag")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=-0", id="empty-suffix"),
        pytest.param("bytes=14-", id="at-end"),
        pytest.param("bytes=99-100", id="past-end"),
        pytest.param("bytes=" + "9" * 5000 + "-", id="thousands-of-digits"),
    ],
)
def test_unsatisfiable_ranges_give_416(client: TestApp, header: str) -> None:
    resp = client.get("/static/hello.txt", headers={"Range": header}, status=416)
    assert head(resp, "Content-Range") == "bytes */14"
    assert head(resp, "Access-Control-Allow-Origin") == "*"


def test_416_keeps_vary(client: TestApp) -> None:
    resp = client.get("/static/app.js", headers={"Range": "bytes=99999-"}, status=416)
    assert head(resp, "Vary") == "Accept-Encoding"
    assert head(resp, "Content-Range") == f"bytes */{len(JS)}"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/static/app.js", id="max-age"),
        pytest.param("/static/style.0123abcd.css", id="immutable"),
    ],
)
def test_416_has_no_cache_control_of_ours(client: TestApp, path: str) -> None:
    # RFC 9111 section 3: "public" or "max-age" make any final status storable, and a shared
    # cache's reuse ignores Range: one client's bad Range would be every client's answer.
    resp = client.get(path, headers={"Range": "bytes=999999-"}, status=416)
    assert head(resp, "Cache-Control") is None


def test_416_keeps_a_cache_control_given_in_headers(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(headers={"Cache-Control": "no-store"}), lint=True)
    resp = client.get("/static/hello.txt", headers={"Range": "bytes=99-"}, status=416)
    assert head(resp, "Cache-Control") == "no-store"


def test_416_passes_wsgiref_validate(make: Callable[..., StaticFiles]) -> None:
    # Regression: the empty 416 had no Content-Type, which wsgiref.validate refuses (only
    # 204 and 304 may omit it), so a validated app raised AssertionError on an unsatisfiable
    # Range.  Found by tests/test_full_stack_hostile.py.
    result = drive(make(), environ={"PATH_INFO": "/static/hello.txt", "HTTP_RANGE": "bytes=99-"})
    assert result.status == "416 Range Not Satisfiable"
    assert ("Content-Type", "text/plain; charset=utf-8") in result.headers
    assert result.body == b""


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=0-1,4-5", id="multiple-ranges-get-the-whole-file"),
        pytest.param("bytes=5-2", id="reversed"),
        pytest.param("items=0-1", id="other-unit"),
        pytest.param("bytes=abc", id="garbage"),
        pytest.param("bytes=1-2-3", id="two-dashes"),
        pytest.param("bytes=-", id="no-numbers"),
        pytest.param("bytes=٣-", id="non-ascii-digit"),
        pytest.param("bytes 0-1", id="no-equals"),
    ],
)
def test_ignored_ranges_give_the_whole_file(client: TestApp, header: str) -> None:
    resp = client.get("/static/hello.txt", headers={"Range": header}, status=200)
    assert resp.body == b"Hello, static!"
    assert head(resp, "Content-Range") is None


def test_if_range(client: TestApp) -> None:
    etag = _etag(client)
    date = http_date(1_700_000_000)
    for condition, status in [
        (etag, 206),
        (f"W/{etag}", 200),  # a weak validator never matches If-Range (RFC 9110 13.1.5)
        ('"other"', 200),
        (date, 206),
        (http_date(1_700_000_001), 200),
        ("not a date", 200),
    ]:
        headers = {"Range": "bytes=0-4", "If-Range": condition}
        client.get("/static/hello.txt", headers=headers, status=status)


def test_range_of_a_precompressed_twin(make: Callable[..., StaticFiles]) -> None:
    gz = gzip.compress(JS, 9, mtime=0)
    resp = fetch(make(), "/static/app.js", Range="bytes=0-1", Accept_Encoding="gzip")
    assert resp.status == "206 Partial Content"
    assert resp.body == gz[:2] == b"\x1f\x8b"
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Content-Range") == f"bytes 0-1/{len(gz)}"


# --- precompressed twins -----------------------------------------------------------------


class Fetched:
    """A response driven through wsgiref.validate (WebTest would decode gzip bodies itself)."""

    def __init__(self, app: StaticFiles, path: str, headers: dict[str, str]) -> None:
        env = {"PATH_INFO": path}
        env.update({"HTTP_" + name.upper(): value for name, value in headers.items()})
        result = drive(app, environ=env)
        self.status = result.status
        self.body = result.body
        self.headers = result.headers

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1
        return values[0] if values else None

    def decoded(self) -> bytes:
        coding = self.header("Content-Encoding")
        if coding == "gzip":
            return gzip.decompress(self.body)
        if coding == "br":
            return bytes(brotli.decompress(self.body))
        if coding == "zstd":
            return zstandard.ZstdDecompressor().decompress(self.body)
        assert coding is None
        return self.body


def fetch(app: StaticFiles, path: str, **headers: str) -> Fetched:
    return Fetched(app, path, headers)


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        pytest.param(None, None, id="no-header-identity"),
        pytest.param("gzip", "gzip", id="gzip"),
        pytest.param("br", "br", id="br"),
        pytest.param("zstd", "zstd", id="zstd"),
        pytest.param("gzip, br", "br", id="smallest-accepted"),
        pytest.param("gzip;q=0, br;q=0, zstd;q=0", None, id="all-refused"),
        pytest.param("gzip;q=0", None, id="gzip-q0-never-gets-gzip"),
        pytest.param("*;q=0.5, br;q=0", "zstd", id="star"),
        pytest.param("identity", None, id="identity"),
        pytest.param("GZIP;Q=1", "gzip", id="case-insensitive"),
        pytest.param("gzip;q=oops", None, id="malformed-q-ignored"),
    ],
)
def test_twins_by_accept_encoding(
    make: Callable[..., StaticFiles], accept: str | None, coding: str | None
) -> None:
    headers = {"Accept_Encoding": accept} if accept is not None else {}
    resp = fetch(make(), "/static/app.js", **headers)
    assert resp.header("Content-Encoding") == coding
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.decoded() == JS
    assert resp.header("Content-Length") == str(len(resp.body))
    assert resp.header("Content-Type") == "text/javascript; charset=utf-8"


def test_each_coding_has_its_own_etag_and_304(make: Callable[..., StaticFiles]) -> None:
    app = make()
    tags = {
        c: fetch(app, "/static/app.js", Accept_Encoding=c).header("ETag") for c in ("gzip", "br")
    }
    tags["identity"] = fetch(app, "/static/app.js").header("ETag")
    assert len(set(tags.values())) == 3
    etag = str(tags["gzip"])
    resp = fetch(app, "/static/app.js", If_None_Match=etag, Accept_Encoding="gzip")
    assert resp.status == "304 Not Modified"
    assert resp.header("ETag") == etag
    resp = fetch(app, "/static/app.js", If_None_Match=etag, Accept_Encoding="br")
    assert resp.status == "200 OK"
    assert resp.decoded() == JS


def test_smallest_twin_first_and_q_values_win(make: Callable[..., StaticFiles]) -> None:
    app = make()
    resp = fetch(app, "/static/order.txt", Accept_Encoding="br, gzip")
    assert resp.header("Content-Encoding") == "gzip"  # the .gz twin is the smaller one
    assert resp.body == b"G" * 200
    resp = fetch(app, "/static/order.txt", Accept_Encoding="br, gzip;q=0.5")
    assert resp.header("Content-Encoding") == "br"


@pytest.mark.parametrize("name", ["app.js.gz", "app.js.br", "app.js.zst", "APP.JS.GZ"])
def test_twins_are_never_served_by_their_own_name(client: TestApp, name: str) -> None:
    resp = client.get(f"/static/{name}", status=404)
    assert head(resp, "X-App") == "yes"


def test_stale_twin_is_not_served(client: TestApp, make: Callable[..., StaticFiles]) -> None:
    resp = fetch(make(), "/static/stale.css", Accept_Encoding="gzip")
    assert resp.header("Content-Encoding") is None
    assert resp.body == b"new " * 100
    assert head(client.get("/static/stale.css.gz", status=404), "X-App") == "yes"


def test_precompressed_false_serves_twins_as_files(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(precompressed=False))
    resp = client.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
    assert head(resp, "Content-Encoding") is None
    assert head(resp, "Vary") is None
    resp = client.get("/static/app.js.gz")
    assert head(resp, "Content-Type") == "application/gzip"
    assert resp.body == gzip.compress(JS, 9, mtime=0)


def test_extra_vary_is_merged(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(headers=[("Vary", "Origin"), ("X-Frame-Options", "DENY")]))
    resp = client.get("/static/app.js")
    assert head(resp, "Vary") == "Accept-Encoding, Origin"
    assert head(resp, "X-Frame-Options") == "DENY"
    assert head(client.get("/static/hello.txt"), "Vary") == "Origin"


LINKS = [
    ("Link", "</static/app.js>; rel=preload; as=script"),
    ("Link", "</static/style.0123abcd.css>; rel=preload; as=style"),
]


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="200"),
        pytest.param({"HTTP_RANGE": "bytes=0-0"}, id="206"),
        pytest.param({"HTTP_IF_NONE_MATCH": "*"}, id="304"),
        pytest.param({"HTTP_RANGE": "bytes=999999-"}, id="416"),
        pytest.param({"REQUEST_METHOD": "POST"}, id="405"),
    ],
)
def test_repeated_extra_headers_are_all_sent(
    make: Callable[..., StaticFiles], environ: dict[str, str]
) -> None:
    result = drive(make(headers=LINKS), environ={"PATH_INFO": "/static/big.bin", **environ})
    assert [header for header in result.headers if header[0] == "Link"] == LINKS


def test_cache_control_in_headers_replaces_ours(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(headers={"Cache-Control": "no-cache"}), lint=True)
    resp = client.get("/static/style.0123abcd.css")
    assert resp.headers.getall("Cache-Control") == ["no-cache"]


def test_latin1_header_values_are_sent(make: Callable[..., StaticFiles]) -> None:
    result = drive(make(headers={"X-Note": "caf\u00e9"}), environ={"PATH_INFO": "/static/app.js"})
    assert ("X-Note", "caf\u00e9") in result.headers


# --- security --------------------------------------------------------------------------------

HOSTILE = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E%2Fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/.%2e/secret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/dir/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",
    "/static/%c0%ae%c0%ae%c0%afsecret.txt",
    "/static/%e0%80%ae%e0%80%ae/secret.txt",
    "/static/..%5csecret.txt",
    "/static/..%5c..%5csecret.txt",
    "/static/hello.txt%00.png",
    "/static/%00",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/C:/Windows/win.ini",
    "/static/c:%5cwindows%5cwin.ini",
    "/static/./hello.txt",
    "/static/%ff%fe",
]
NOT_SERVED = [
    "/static/.env",
    "/static/.git/config",
    "/static/%2egit/config",
    "/static/link_out",
    "/static/dirlink_out/passwd",
    "/static/fifo.txt",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_get_404_from_us(client: TestApp, path: str) -> None:
    resp = client.get(path, status=404)
    assert head(resp, "X-App") is None  # answered here: the app never sees the path
    assert SECRET not in resp.body


@pytest.mark.parametrize("path", HOSTILE + NOT_SERVED)
def test_hostile_paths_through_the_validator(make: Callable[..., StaticFiles], path: str) -> None:
    from urllib.parse import unquote_to_bytes

    # As a server hands it over: percent-decoded bytes, as latin-1 (PEP 3333).
    raw = unquote_to_bytes(path.split("?")[0]).decode("latin-1")
    for method in ("GET", "HEAD", "POST"):
        result = drive(make(), environ={"PATH_INFO": raw, "REQUEST_METHOD": method})
        assert result.status.startswith(("404", "400")), (path, result.status)
        assert SECRET not in result.body


def test_the_absolute_path_of_a_secret_is_not_served(client: TestApp, tree: Path) -> None:
    resp = client.get("/static/" + str(tree.parent / "secret.txt"), status=404)
    assert SECRET not in resp.body


@pytest.mark.parametrize("path", NOT_SERVED)
def test_dotfiles_symlinks_out_and_fifos_are_absent(client: TestApp, path: str) -> None:
    resp = client.get(path, status=404)
    assert head(resp, "X-App") == "yes"
    assert SECRET not in resp.body


def test_symlink_inside_the_root_is_served(client: TestApp) -> None:
    assert client.get("/static/link_in").body == b"Hello, static!"


def test_hidden_true_serves_dotfiles(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(hidden=True))
    assert client.get("/static/.env").body == SECRET
    assert client.get("/static/.git/config").body == SECRET
    client.get("/static/../secret.txt", status=404)  # still never out of the root


def test_follow_symlinks_true_serves_links_out(make: Callable[..., StaticFiles]) -> None:
    client = TestApp(make(follow_symlinks=True))
    assert client.get("/static/link_out").body == SECRET
    assert client.get("/static/dirlink_out/passwd").body == SECRET
    client.get("/static/../secret.txt", status=404)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segments=st.lists(
        st.one_of(
            st.sampled_from(["..", ".", "", "%2e", "\\", "\x00", "C:", ".git", "secret.txt"]),
            st.text(max_size=8),
        ),
        max_size=6,
    )
)
def test_fuzzed_paths_never_leak_nor_crash(
    make: Callable[..., StaticFiles], segments: list[str]
) -> None:
    path = "/static/" + "/".join(segments)
    raw = path.encode("utf-8", "surrogatepass").decode("latin-1")
    result = drive(make(), environ={"PATH_INFO": raw})
    assert SECRET not in result.body
    assert result.status[:3] in {"200", "302", "404"}


# --- bodies: file_wrapper, blocks, close ------------------------------------------------


class CountingFile(io.FileIO):
    closes = 0

    def close(self) -> None:
        if not self.closed:
            type(self).closes += 1
        super().close()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    class Counting(CountingFile):
        closes = 0

    def counting_open(path: str, mode: str, **options: Any) -> Counting:
        return Counting(path, "r")

    monkeypatch.setattr(static_module, "open", counting_open, raising=False)
    return Counting


def test_large_file_goes_out_as_the_servers_file_wrapper(make: Callable[..., StaticFiles]) -> None:
    result = drive(make(), environ={"PATH_INFO": "/static/big.bin"})
    assert isinstance(result.server_body.original_iterator, FileWrapper)
    assert result.body == BIG


def test_without_file_wrapper_blocks_and_closes_once(
    make: Callable[..., StaticFiles], counted: type[CountingFile]
) -> None:
    env = {"PATH_INFO": "/static/big.bin", "wsgi.file_wrapper": None}
    result = drive(make(block_size=10_000), environ=env, validate=False)
    assert isinstance(result.server_body, FileBody)
    assert result.body == BIG
    assert counted.closes == 1


def test_client_gone_early_closes_once(
    make: Callable[..., StaticFiles], counted: type[CountingFile]
) -> None:
    env = {"PATH_INFO": "/static/big.bin", "wsgi.file_wrapper": None}
    result = drive(make(block_size=1000), environ=env, stop_after=2)
    assert result.body == BIG[:2000]
    assert counted.closes == 1


def test_start_response_raising_closes_the_file(
    make: Callable[..., StaticFiles], counted: type[CountingFile]
) -> None:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        raise RuntimeError("server refused")

    env = {"PATH_INFO": "/static/big.bin", "REQUEST_METHOD": "GET"}
    with pytest.raises(RuntimeError):
        make()(env, start_response)
    assert counted.closes == 1


def test_small_file_read_from_disk_closes_once(
    tree: Path, mode: str, counted: type[CountingFile]
) -> None:
    app = StaticFiles(fallback, directories={"/static": tree}, autorefresh=mode == "autorefresh")
    result = drive(app, environ={"PATH_INFO": "/static/hello.txt"})
    assert result.body == b"Hello, static!"
    assert counted.closes == (1 if mode == "autorefresh" else 0)  # the index keeps it in memory


def test_file_body_close_is_idempotent(tree: Path) -> None:
    body = FileBody(open(tree / "hello.txt", "rb"), 5, 2)  # noqa: SIM115
    assert list(body) == [b"He", b"ll", b"o"]
    body.close()
    body.close()
    assert list(body) == []


def test_range_with_a_non_capping_wrapper_is_bounded(make: Callable[..., StaticFiles]) -> None:
    # wsgiref's FileWrapper reads to the end of the file: a 206 must not use it.
    env = {"PATH_INFO": "/static/big.bin", "HTTP_RANGE": "bytes=1000-70999"}
    result = drive(make(), environ=env)
    assert isinstance(result.server_body.original_iterator, FileBody)
    assert result.body == BIG[1000:71000]


def test_range_with_a_capping_server_uses_its_wrapper(make: Callable[..., StaticFiles]) -> None:
    class GunicornLikeWrapper(FileWrapper):
        pass

    GunicornLikeWrapper.__module__ = "gunicorn.http.wsgi"
    env = {
        "PATH_INFO": "/static/big.bin",
        "HTTP_RANGE": "bytes=100000-",
        "wsgi.file_wrapper": GunicornLikeWrapper,
    }
    result = drive(make(), environ=env)
    wrapped = result.server_body.original_iterator
    assert isinstance(wrapped, GunicornLikeWrapper)
    assert result.body == BIG[100000:]  # seeked to the start; the end is the file's


# --- modes ------------------------------------------------------------------------------------


def test_autorefresh_sees_changes_and_index_does_not(tmp_path: Path, mode: str) -> None:
    _write(tmp_path / "a.txt", b"one")
    client = TestApp(
        StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    )
    assert client.get("/s/a.txt").body == b"one"
    _write(tmp_path / "a.txt", b"two!", mtime=1_800_000_000)
    _write(tmp_path / "new.txt", b"new")
    if mode == "autorefresh":
        assert client.get("/s/a.txt").body == b"two!"
        assert client.get("/s/new.txt").body == b"new"
    else:
        assert client.get("/s/a.txt").body == b"one"
        assert head(client.get("/s/new.txt", status=404), "X-App") == "yes"


def test_index_mode_falls_through_when_a_large_file_vanished(tmp_path: Path) -> None:
    _write(tmp_path / "big.bin", BIG)
    client = TestApp(StaticFiles(fallback, directories={"/s": tmp_path}))
    (tmp_path / "big.bin").unlink()
    assert head(client.get("/s/big.bin", status=404), "X-App") == "yes"


def _fresh_etag(root: Path, path: str) -> str:
    """The ETag a new autorefresh StaticFiles gives ``path`` now."""
    app = StaticFiles(fallback, directories={"/s": root}, autorefresh=True)
    return dict(drive(app, environ={"PATH_INFO": path}).headers)["ETag"]


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(BIG[::-1] + b"more", id="resized"),
        pytest.param(BIG[::-1], id="same-size"),
    ],
)
def test_a_large_file_changed_on_disk_is_sent_with_its_new_headers(
    tmp_path: Path, mode: str, new: bytes
) -> None:
    _write(tmp_path / "big.bin", BIG)
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    _write(tmp_path / "big.bin", new, mtime=1_750_000_000)  # a deploy without a restart
    result = drive(app, environ={"PATH_INFO": "/s/big.bin"})
    headers = dict(result.headers)
    assert result.body == new
    assert headers["Content-Length"] == str(len(new))
    assert headers["Last-Modified"] == http_date(1_750_000_000)
    assert headers["ETag"] == _fresh_etag(tmp_path, "/s/big.bin")


def test_a_range_of_a_large_file_changed_on_disk_counts_its_new_size(
    tmp_path: Path, mode: str
) -> None:
    _write(tmp_path / "big.bin", BIG)
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    new = BIG * 2
    _write(tmp_path / "big.bin", new, mtime=1_750_000_000)
    result = drive(app, environ={"PATH_INFO": "/s/big.bin", "HTTP_RANGE": "bytes=100000-"})
    assert result.status == "206 Partial Content"
    assert dict(result.headers)["Content-Range"] == f"bytes 100000-{len(new) - 1}/{len(new)}"
    assert result.body == new[100000:]


def test_a_large_file_that_keeps_changing_goes_to_the_app(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "big.bin", BIG)
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    opened: list[io.FileIO] = []
    stamps = iter(range(1_750_000_000, 1_750_000_100))

    def open_while_written(path: str, mode: str, **options: Any) -> io.FileIO:
        os.utime(path, (next(stamps), next(stamps)))  # written to as it is opened, every time
        opened.append(io.FileIO(path, "r"))
        return opened[-1]

    monkeypatch.setattr(static_module, "open", open_while_written, raising=False)
    result = drive(app, environ={"PATH_INFO": "/s/big.bin"})
    assert dict(result.headers).get("X-App") == "yes"
    assert len(opened) == 2  # looked at again once
    assert all(file.closed for file in opened)


def test_a_directory_and_its_symlink_alias_are_both_served(tmp_path: Path, mode: str) -> None:
    # A common layout: "current -> v2" beside "v2"; autorefresh has always served both.
    _write(tmp_path / "v2" / "app.js", JS)
    (tmp_path / "current").symlink_to(tmp_path / "v2")
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    client = TestApp(app, lint=True)
    assert client.get("/s/v2/app.js").body == JS
    assert client.get("/s/current/app.js").body == JS


def test_index_mode_does_not_walk_into_a_symlink_loop(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "x.txt", b"x")
    (tmp_path / "a" / "again").symlink_to(tmp_path / "a")  # a/again/again/... without end
    client = TestApp(StaticFiles(fallback, directories={"/s": tmp_path}), lint=True)
    assert client.get("/s/a/x.txt").body == b"x"
    assert head(client.get("/s/a/again/x.txt", status=404), "X-App") == "yes"


FUTURE = int(time.time()) + 10 * 365 * 86400  # a file dated by a clock ten years ahead


def test_last_modified_is_never_in_the_future(tmp_path: Path, mode: str) -> None:
    # RFC 9110 section 8.8.2.1: never later than the response's Date; use the time instead.
    _write(tmp_path / "a.txt", b"x", mtime=FUTURE)
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    last_modified = dict(drive(app, environ={"PATH_INFO": "/s/a.txt"}).headers)["Last-Modified"]
    assert parsedate_to_datetime(last_modified).timestamp() <= time.time()


@pytest.mark.parametrize(
    ("name", "status"),
    [pytest.param("If-Modified-Since", 304, id="304"), pytest.param("If-Range", 206, id="206")],
)
def test_conditions_compare_with_the_last_modified_sent(
    tmp_path: Path, name: str, status: int
) -> None:
    # Index mode: the value sent is fixed at start-up.  (Autorefresh sends the time of each
    # response for such a file: it looks modified every time, which is safe.)
    _write(tmp_path / "a.txt", b"xyz", mtime=FUTURE)
    client = TestApp(StaticFiles(fallback, directories={"/s": tmp_path}), lint=True)
    last_modified = client.get("/s/a.txt").headers["Last-Modified"]
    client.get("/s/a.txt", headers={name: last_modified, "Range": "bytes=0-0"}, status=status)


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"directories": {"static": "."}}, ValueError, "start with '/'", id="prefix"),
        pytest.param({"directories": {"/s/../x": "."}}, ValueError, "plain URL", id="dots"),
        pytest.param({"directories": {"/s": "/nonexistent"}}, ValueError, "not a directory",
                     id="missing-dir"),
        pytest.param({"directories": {"/s": ".", "/s/": "."}}, ValueError, "twice", id="dup"),
        pytest.param({"directories": {}}, TypeError, "non-empty", id="empty"),
        pytest.param({"directories": ["."]}, TypeError, "mapping", id="not-mapping"),
        pytest.param({"max_age": -1}, ValueError, "max_age", id="max-age"),
        pytest.param({"max_age": "60"}, TypeError, "max_age", id="max-age-type"),
        pytest.param({"max_age": True}, TypeError, "max_age", id="max-age-bool"),
        pytest.param({"immutable": 5}, TypeError, "immutable", id="immutable-type"),
        pytest.param({"immutable": re.compile(b"x")}, TypeError, "immutable",
                     id="immutable-bytes-pattern"),
        pytest.param({"immutable": "[0-9"}, ValueError, "immutable", id="immutable-regex"),
        pytest.param({"index": "a/b.html"}, ValueError, "index", id="index"),
        pytest.param({"index": 5}, TypeError, "index", id="index-type"),
        pytest.param({"block_size": 0}, ValueError, "block_size", id="block-size"),
        pytest.param({"max_in_memory": -1}, ValueError, "max_in_memory", id="memory"),
        pytest.param({"headers": {"Content-Length": "1"}}, ValueError, "set by", id="framing"),
        pytest.param({"headers": {"X-A": "1\r\nX-B: 2"}}, ValueError, "invalid", id="crlf"),
        pytest.param({"headers": {"Bad Name": "1"}}, ValueError, "invalid", id="name"),
        pytest.param({"headers": {"X-Note": "caf\u00e9 \u2603"}}, ValueError, "headers: .*latin-1",
                     id="not-latin-1"),
        pytest.param({"headers": "X-A: 1"}, TypeError, "headers", id="headers-str"),
        pytest.param({"headers": [("X-A", "1", "2")]}, TypeError, "headers", id="headers-triple"),
        pytest.param({"mimetypes": {"txt": "text/plain"}}, ValueError, "mimetypes", id="mime"),
        pytest.param({"mimetypes": {".x": 5}}, TypeError, "mimetypes", id="mime-type"),
        pytest.param({"mimetypes": [".x"]}, TypeError, "mimetypes", id="mime-not-mapping"),
        pytest.param({"mimetypes": {".x": "text/\u2603"}}, ValueError, "mimetypes",
                     id="mime-not-latin-1"),
        pytest.param({"directories": {"/s": 5}}, TypeError, "directories", id="dir-type"),
        pytest.param({"directories": {"/s": b"."}}, TypeError, "directories", id="dir-bytes"),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_by_name(
    tree: Path, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    options.setdefault("directories", {"/static": tree})
    with pytest.raises(error, match=match):
        StaticFiles(fallback, **options)


def test_default_directory_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="assets"):
        StaticFiles(fallback)
    (tmp_path / "assets").mkdir()
    _write(tmp_path / "assets" / "x.txt", b"x")
    assert TestApp(StaticFiles(fallback)).get("/static/x.txt").body == b"x"


@pytest.mark.parametrize("name", ["back\\slash.txt", "C:drive.txt", "tab\there.txt"])
def test_names_no_url_may_reach_are_not_indexed(tmp_path: Path, mode: str, name: str) -> None:
    _write(tmp_path / name, SECRET)
    app = StaticFiles(fallback, directories={"/s": tmp_path}, autorefresh=mode == "autorefresh")
    result = drive(app, environ={"PATH_INFO": "/s/" + name})
    assert result.status.startswith("404")
    assert SECRET not in result.body


def test_head_of_an_error_has_no_body(client: TestApp) -> None:
    resp = client.head("/static/../secret.txt", status=404)
    assert resp.body == b""


def test_directory_redirect_keeps_the_query_bytes(tmp_path: Path) -> None:
    # PEP 3333 "Unicode Issues": QUERY_STRING is the request's bytes decoded as latin-1; the
    # client sent q=%C3%A9 (UTF-8 for "é") and the Location carries the same bytes.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("x")
    app = StaticFiles(lambda e, s: [], directories={"/static": str(tmp_path)})
    query = b"q=\xc3\xa9".decode("latin-1")
    result = drive(app, environ={"PATH_INFO": "/static/docs", "QUERY_STRING": query})
    assert result.status == "302 Found"
    assert dict(result.headers)["Location"] == "/static/docs/?q=%C3%A9"
