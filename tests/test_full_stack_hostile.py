"""Hostile input through the whole recommended stack (examples/full_stack.py).

Hypothesis writes requests a client or a broken proxy could send: random header names and
values (latin-1 text, as PEP 3333 hands them over, with control characters), huge headers,
malformed ``Forwarded``/``X-Forwarded-*``, ``Range``, ``Accept-Encoding``, ``Origin`` and
conditional headers, and paths with every encoding of ``..`` both as sent and as the server
decoded them.  Every request must be answered through ``wsgiref.validate`` without an
unhandled exception or a 5xx (the apps never produce one), must never carry the content of a
file outside the static root (or of a dotfile or a symlink leading out of it), and must give
exactly one access line that is one line of text without control characters (and valid JSON
in the JSON format).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from examples.full_stack import full_stack
from tests.wsgi_helpers import LogCapture, drive

SECRET = b"SECRET-"  # every secret file's content starts with this; no public one contains it
PUBLIC = {
    "app.js": b"console.log('public script');\n" * 40,
    "style.css": b"body { color: black }\n" * 50,
    "index.html": b"<!doctype html><title>index</title>\n" * 30,
    "sub/page.txt": b"a public page in a sub directory\n" * 30,
    "sub/index.html": b"<p>sub index</p>\n" * 40,
    "big.bin": bytes(range(256)) * 400,  # over max_in_memory: served through file_wrapper
    "caf\u00e9.txt": b"a file with a non-ASCII name\n" * 30,
}
APP_BODY = b"the default app answers " * 30
API_BODY = b"the mounted api answers " * 30
STATUS_BODIES = {b"", b"Not Found\n"}  # plain error pages carry their status line below
FORMATS = ("combined", "json")


def _answer(body: bytes, name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", name)])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    return app


def _site(base: Path) -> Path:
    """A static root with public files, a dotfile, a dot-directory and a symlink out; secrets
    beside it, in a sibling whose name starts like the root's, and above it."""
    root = base / "static"
    for name, data in PUBLIC.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / ".env").write_bytes(SECRET + b"dotfile inside the root")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(SECRET + b"dot-directory inside the root")
    (base / "secret.txt").write_bytes(SECRET + b"next to the root")
    (base / "static2").mkdir()
    (base / "static2" / "secret.txt").write_bytes(SECRET + b"sibling sharing the prefix")
    (root / "sub" / "secret.txt").symlink_to(base / "secret.txt")
    (root / "out").symlink_to(base / "static2", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = _site(tmp_path_factory.mktemp("hostile"))
    capture = LogCapture(logging.getLogger("tests.full_stack_hostile"))
    built: dict[str, Any] = {"capture": capture, "root": root}
    for fmt in FORMATS:
        logger = logging.getLogger(f"tests.full_stack_hostile.{fmt}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(capture)
        built[fmt] = full_stack(
            _answer(APP_BODY, "default"),
            static_dir=root,
            mounts={"/api": _answer(API_BODY, "api")},
            logger=logger,
            log_format=fmt,
        )
    yield built
    for fmt in FORMATS:
        logging.getLogger(f"tests.full_stack_hostile.{fmt}").removeHandler(capture)


# --- strategies --------------------------------------------------------------------------------

# PEP 3333: header values and the path are the request's bytes decoded as latin-1.
LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)
LATIN1_TEXT = st.text(LATIN1, max_size=40)
FRAGMENTS = st.sampled_from(
    [
        "for=", "by=", "proto=", "host=", '"', "[", "]", ":", ";", ",", "=", " ", "\t", "\r\n",
        "\x00", "\x1b[2J", "\x7f", "\x85", "\xff", "\xe9", "127.0.0.1", "::1", "[::1]:80",
        "192.0.2.1", "unknown", "_hidden", "https", "http", "wss", "evil.test", "//evil.test",
        "bytes=", "-", "0", "1", "99999999999999999999999", "-1", "0-0", "5-", "-5", "1-2,3-4",
        "gzip", "br", "zstd", "identity", "*", "q=", "q=0", "q=1.0", "q=-1", "q=nan",
        "https://app.example", "HTTPS://APP.EXAMPLE:443", "null", "http://", "W/", '"abc"',
        "Mon, 01 Jan 2024 00:00:00 GMT", "GET", "PUT", "X-Custom", "..", "/", "\\", "%2e",
        "%00", "%0d%0a", "\u2028".encode().decode("latin-1"),
    ]
)  # fmt: skip
VALUE = st.one_of(
    st.lists(st.one_of(FRAGMENTS, LATIN1_TEXT), max_size=12).map("".join),
    LATIN1_TEXT,
)
HUGE = st.builds(lambda unit, count: unit * count, VALUE.filter(bool), st.integers(2000, 8000))
NAMED = [
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ORIGIN",
    "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_HOST",
    "HTTP_X_REQUEST_ID",
    "HTTP_REFERER",
    "HTTP_USER_AGENT",
    "HTTP_COOKIE",
    "HTTP_AUTHORIZATION",
]
# A header name as a server turns it into an environ key: HTTP_ + upper case, "-" -> "_".
RANDOM_NAME = st.text(LATIN1, min_size=1, max_size=20).map(
    lambda name: "HTTP_" + name.upper().replace("-", "_")
)
NUMBER = st.one_of(st.integers(-5, 110_000), st.integers(), st.sampled_from(["", "x", "1e3"]))
RANGE = st.lists(
    st.builds("{}-{}".format, NUMBER, NUMBER) | st.builds("-{}".format, NUMBER), max_size=4
).map(lambda ranges: "bytes=" + ",".join(ranges))
ORIGIN = st.builds(
    str.__add__,
    st.sampled_from(["https://app.example", "HTTPS://APP.EXAMPLE:443", "null", "http://", ""]),
    st.one_of(st.just(""), VALUE),
)
NODE = st.sampled_from(["192.0.2.1", "[2001:db8::1]:8080", "unknown", "_hidden", '"[::1]"', ""])
FORWARDED = st.lists(
    st.lists(
        st.builds(
            "{}={}".format,
            st.sampled_from(["for", "by", "proto", "host", "FOR", "x"]),
            st.one_of(NODE, VALUE),
        ),
        max_size=4,
    ).map(";".join),
    max_size=5,
).map(", ".join)
CODINGS = st.lists(
    st.builds(
        "{}{}".format,
        st.sampled_from(["gzip", "br", "zstd", "*", "identity", "GZIP", "x-gzip", ""]),
        st.one_of(st.just(""), st.builds(";q={}".format, st.one_of(NUMBER, VALUE))),
    ),
    max_size=5,
).map(", ".join)
ETAGS = st.lists(
    st.one_of(st.sampled_from(["*", "W/", '"', '""']), st.builds('W/"{}"'.format, VALUE), VALUE),
    max_size=5,
).map(", ".join)
STRUCTURED = {
    "HTTP_FORWARDED": FORWARDED,
    "HTTP_X_FORWARDED_FOR": st.lists(NODE, max_size=4).map(", ".join),
    "HTTP_RANGE": RANGE,
    "HTTP_ACCEPT_ENCODING": CODINGS,
    "HTTP_ORIGIN": ORIGIN,
    "HTTP_IF_NONE_MATCH": ETAGS,
    "HTTP_IF_MATCH": ETAGS,
}
HEADERS = st.builds(
    lambda named, random: {**random, **named},
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(STRUCTURED.get(name, VALUE), VALUE) for name in NAMED}
    ),
    st.dictionaries(RANDOM_NAME, VALUE, max_size=4),
).filter(
    lambda headers: "HTTP_CONTENT_TYPE" not in headers and "HTTP_CONTENT_LENGTH" not in headers
)

# Every spelling of a step up, as sent and as the server percent-decoded it (PEP 3333 gives
# the decoded bytes as latin-1: %c0%ae, an overlong "." in UTF-8, arrives as "\xc0\xae").
DOTS = [
    "..", ".", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "%c0%ae%c0%ae", "\xc0\xae\xc0\xae",
    "%c0%2e", "\xc0.", "%e0%80%ae", "\xe0\x80\xae\xe0\x80\xae", "..%00", "..\x00", "\x00", "..\\",
    "\\..", "..%5c", "%5c..", "...", "..;", ".. ", "%2f..", "%u002e%u002e",
]  # fmt: skip
TARGETS = [
    "secret.txt", "static2", "static2/secret.txt", ".env", ".git", ".git/config", "config",
    "sub", "sub/secret.txt", "out", "out/secret.txt", "app.js", "index.html", "etc/passwd",
    "caf\xc3\xa9.txt", "caf\u00e9.txt", "", "/", "\\", "C:", "c:\\secret.txt", "C:/secret.txt",
    "\\\\server\\share", "~", "%2f", "%00", "\x00", ";", "?",
]  # fmt: skip
PREFIXES = [
    "/static/", "/static", "//static/", "/static//", "/static/sub/", "/static/out/", "/static\\",
    "/", "/api/", "/static2/", "/STATIC/", "/static/./", "/static/%2e/",
]  # fmt: skip
SEGMENT = st.one_of(st.sampled_from(DOTS), st.sampled_from(TARGETS), st.text(LATIN1, max_size=8))
PATH = st.one_of(
    st.builds(
        lambda prefix, parts, sep: prefix + sep.join(parts),
        st.sampled_from(PREFIXES),
        st.lists(SEGMENT, min_size=1, max_size=6),
        st.sampled_from(["/", "\\", "/./", "//"]),
    ),
    st.text(LATIN1, max_size=60).map(lambda text: "/" + text),
    st.sampled_from(PREFIXES),
)
METHOD = st.one_of(
    st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "get"]),
    st.text(LATIN1, min_size=1, max_size=8),
)
REMOTE = st.sampled_from(["127.0.0.1", "::1", "192.0.2.9", "", "unix:", "\x00\r\n"])


# --- checks ------------------------------------------------------------------------------------


def _decoded(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    if not body:  # HEAD, 304: nothing to decode
        return body
    codings = [v.strip().lower() for k, v in headers if k.lower() == "content-encoding"]
    for coding in reversed(",".join(codings).split(",")):
        coding = coding.strip()
        if coding == "gzip":
            body = gzip.decompress(body)
        elif coding == "br":
            body = brotli.decompress(body)
        elif coding not in ("", "identity"):
            raise AssertionError(f"{status}: unexpected Content-Encoding {coding!r}")
    return body


def _public_slice(body: bytes) -> bool:
    return any(body in data for data in PUBLIC.values())


def run(stacks: dict[str, Any], fmt: str, environ: dict[str, Any]) -> int:
    """One request through the stack in log format ``fmt``; every property checked."""
    capture: LogCapture = stacks["capture"]
    capture.records.clear()
    result = drive(stacks[fmt], environ=environ)  # an unhandled exception fails the test
    code = int(result.status[:3])
    assert code < 500, (result.status, environ)
    for name, value in result.headers:
        assert SECRET.decode() not in value, (name, value)
    assert SECRET not in result.body
    body = _decoded(result.status, result.headers, result.body)
    assert SECRET not in body, (result.status, environ)
    app = dict((k.lower(), v) for k, v in result.headers).get("x-app")
    if app is not None:  # the app's own answer, or a part of it
        assert body in (APP_BODY, API_BODY, b"")
    elif code in (200, 206):  # a static file: one inside the root, or a part of it
        assert _public_slice(body), (result.status, environ, body[:80])
    else:
        assert body in STATUS_BODIES or body == result.status.encode(), (result.status, body)
    # Exactly one access line: a single line, no control characters, JSON that parses.
    assert len(capture.records) == 1
    line = capture.records[0].getMessage()
    assert line.splitlines() == [line]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in line), line
    if fmt == "json":
        fields = json.loads(line)
        assert fields["http.response.status_code"] == code
    else:
        assert f'" {code} ' in line
    return code


def environ_for(
    method: str, path: str, headers: dict[str, str], remote: str, query: str = ""
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": remote,
    }
    environ.update(headers)
    return environ


pytestmark = pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")

HOSTILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- properties --------------------------------------------------------------------------------


@HOSTILE
@given(
    fmt=st.sampled_from(FORMATS),
    method=METHOD,
    path=PATH,
    headers=HEADERS,
    remote=REMOTE,
    query=LATIN1_TEXT,
)
def test_any_request_is_answered_safely_and_logged_on_one_line(
    stacks: dict[str, Any],
    fmt: str,
    method: str,
    path: str,
    headers: dict[str, str],
    remote: str,
    query: str,
) -> None:
    event(f"status {run(stacks, fmt, environ_for(method, path, headers, remote, query))}")


PUBLIC_PATHS = ["/static/" + name.encode().decode("latin-1") for name in PUBLIC]


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    method=st.sampled_from(["GET", "HEAD"]),
    path=st.one_of(PATH, st.sampled_from(PUBLIC_PATHS)),
    coding=st.sampled_from([None, "gzip", "br", "gzip, br", "*", "br;q=0, gzip;q=0.5"]),
    range_=st.one_of(
        st.none(),
        RANGE,
        VALUE,
        st.sampled_from(["bytes=0-99", "bytes=-100", "bytes=100-", "bytes=0-0", "bytes=999999-"]),
    ),
    etag=st.one_of(st.none(), st.just("real"), ETAGS),
    since=st.one_of(st.none(), VALUE, st.just("Mon, 01 Jan 2100 00:00:00 GMT")),
)
def test_no_path_reaches_a_file_outside_the_static_root(
    stacks: dict[str, Any],
    fmt: str,
    method: str,
    path: str,
    coding: str | None,
    range_: str | None,
    etag: str | None,
    since: str | None,
) -> None:
    if etag == "real":  # the file's own ETag (a 304 when it matches)
        first = drive(
            stacks[fmt], environ={"PATH_INFO": path, "HTTP_ACCEPT_ENCODING": coding or ""}
        )
        stacks["capture"].records.clear()
        etag = dict((k.lower(), v) for k, v in first.headers).get("etag", '"none"')
    headers = {
        "HTTP_ACCEPT_ENCODING": coding,
        "HTTP_RANGE": range_,
        "HTTP_IF_NONE_MATCH": etag,
        "HTTP_IF_MODIFIED_SINCE": since,
    }
    present = {name: value for name, value in headers.items() if value is not None}
    event(f"status {run(stacks, fmt, environ_for(method, path, present, '192.0.2.9'))}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), name=st.sampled_from(NAMED), value=HUGE, path=PATH)
def test_huge_headers_are_answered_and_logged_on_one_line(
    stacks: dict[str, Any], fmt: str, name: str, value: str, path: str
) -> None:
    # Tens of KB in one header (servers allow up to 64 KB or more): no crash, no quadratic
    # parse, one line (the User-Agent and Referer are logged, escaped).
    assert len(value) >= 2000
    event(f"status {run(stacks, fmt, environ_for('GET', path, {name: value}, '127.0.0.1'))}")


# --- the secrets are there to be found ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "served"),
    [
        pytest.param("/static/app.js", PUBLIC["app.js"], id="public-file"),
        pytest.param("/static/caf\xc3\xa9.txt", PUBLIC["caf\u00e9.txt"], id="utf8-name"),
        pytest.param("/static/sub/", PUBLIC["sub/index.html"], id="index"),
        pytest.param("/static/.env", APP_BODY, id="dotfile-goes-to-the-app"),
        pytest.param("/static/.git/config", APP_BODY, id="dot-directory-goes-to-the-app"),
        pytest.param("/static/sub/secret.txt", APP_BODY, id="symlink-out-goes-to-the-app"),
        pytest.param("/static/out/secret.txt", APP_BODY, id="directory-symlink-out"),
        pytest.param("/static/../secret.txt", b"404 Not Found", id="dot-dot"),
        pytest.param("/static/..\\secret.txt", b"404 Not Found", id="backslash"),
        pytest.param("/static/\xc0\xae\xc0\xae/secret.txt", b"404 Not Found", id="overlong"),
        pytest.param("/static/C:/secret.txt", b"404 Not Found", id="drive-letter"),
        pytest.param("/static/a\x00b", b"404 Not Found", id="nul"),
        pytest.param("/static2/secret.txt", APP_BODY, id="sibling-is-not-under-the-mount"),
    ],
)
def test_known_paths(stacks: dict[str, Any], path: str, served: bytes) -> None:
    # The secrets exist and are readable; the stack serves the public files and refuses these.
    root: Path = stacks["root"]
    assert (root / "sub" / "secret.txt").read_bytes().startswith(SECRET)
    assert (root / "out" / "secret.txt").read_bytes().startswith(SECRET)
    assert os.path.isfile(root / ".env")
    result = drive(stacks["combined"], environ={"PATH_INFO": path})
    assert result.body == served
    run(stacks, "json", environ_for("GET", path, {}, "192.0.2.9"))
