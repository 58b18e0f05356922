"""ProxyFix: every X-Forwarded-* header and combination, RFC 7239 Forwarded, the trust gate,
malformed input, configuration errors, and properties over arbitrary header bytes."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote
from wsgiref.util import request_uri
from wsgiref.validate import validator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from middlewares.proxy_fix import FORWARDED_KEY, ORIG_KEY, ProxyFix, parse_forwarded
from tests.wsgi_helpers import HELLO, closes, drive, make_app

FORMS = ["list", "generator", "write", "file_wrapper"]
REWRITTEN = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT")
WATCHED = (*REWRITTEN, "SCRIPT_NAME")


def echo_app() -> tuple[Callable[..., Any], dict[str, Any]]:
    """An app that records the environ it was called with."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.clear()
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [HELLO]

    return app, seen


def run(
    headers: dict[str, str] | None = None,
    *,
    remote_addr: str | None = "127.0.0.1",
    environ: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The environ the app sees behind ProxyFix(**options); validated on both sides of it."""
    app, seen = echo_app()
    # The inner validator checks that the rewritten environ is still valid PEP 3333.
    wrapped = ProxyFix(validator(app), **options)
    env: dict[str, Any] = {
        "HTTP_HOST": "internal:8000",
        "SERVER_NAME": "internal",
        "SERVER_PORT": "8000",
    }
    if remote_addr is not None:
        env["REMOTE_ADDR"] = remote_addr
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    env.update(environ or {})
    result = drive(wrapped, environ=env)
    assert result.body == HELLO
    return seen


def view(seen: dict[str, Any]) -> dict[str, Any]:
    return {key: seen.get(key) for key in WATCHED}


BASE = {
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.url_scheme": "http",
    "HTTP_HOST": "internal:8000",
    "SERVER_NAME": "internal",
    "SERVER_PORT": "8000",
    "SCRIPT_NAME": "",
}


def changed(**keys: str) -> dict[str, Any]:
    """The keys a case expects ProxyFix to set (``wsgi_url_scheme`` stands for the dotted key)."""
    return {key.replace("wsgi_url_scheme", "wsgi.url_scheme"): v for key, v in keys.items()}


NOTHING: dict[str, Any] = {}


# --- X-Forwarded-*: one row per header and combination ----------------------------------------

X_CASES = [
    # X-Forwarded-For
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "203.0.113.7"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "6.6.6.6, 203.0.113.7"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-spoofed-left-value-ignored",
    ),
    pytest.param(
        {"x_for": 2},
        {"X-Forwarded-For": "6.6.6.6,203.0.113.7 ,10.0.0.2"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-two-proxies",
    ),
    pytest.param(
        {"x_for": 2}, {"X-Forwarded-For": "203.0.113.7"}, NOTHING, id="for-fewer-values-than-count"
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "203.0.113.7:5555"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-ipv4-port-dropped",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "2001:DB8::1"},
        changed(REMOTE_ADDR="2001:db8::1"),
        id="for-ipv6-canonical",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "[2001:db8::1]:4711"},
        changed(REMOTE_ADDR="2001:db8::1"),
        id="for-ipv6-bracket-port",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "[2001:db8::1]"},
        changed(REMOTE_ADDR="2001:db8::1"),
        id="for-ipv6-bracket",
    ),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "unknown"}, NOTHING, id="for-unknown"),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "_hidden"}, NOTHING, id="for-obfuscated"),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "evil.example"}, NOTHING, id="for-hostname"),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "1.2.3.4:99999"}, NOTHING, id="for-bad-port"),
    pytest.param(
        {"x_for": 1}, {"X-Forwarded-For": "[1.2.3.4]"}, NOTHING, id="for-ipv4-in-brackets"
    ),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "203.0.113.7,"}, NOTHING, id="for-empty-last"),
    pytest.param({"x_for": 0}, {"X-Forwarded-For": "203.0.113.7"}, NOTHING, id="for-off"),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "::ffff:203.0.113.7"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-ipv4-mapped-unwrapped",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "::ffff:cb00:7107"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-ipv4-mapped-hex-unwrapped",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "[::FFFF:203.0.113.7]:4711"},
        changed(REMOTE_ADDR="203.0.113.7"),
        id="for-ipv4-mapped-bracket-port-unwrapped",
    ),
    pytest.param({"x_for": 1}, {"X-Forwarded-For": "fe80::1%eth0"}, NOTHING, id="for-zone-id"),
    pytest.param(
        {"x_for": 1}, {"X-Forwarded-For": "fe80::1%a b<script>"}, NOTHING, id="for-zone-id-markup"
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "fe80::1%\x1b[31mred"},
        NOTHING,
        id="for-zone-id-terminal-escape",
    ),
    pytest.param(
        {"x_for": 1},
        {"X-Forwarded-For": "[fe80::1%25eth0]:80"},
        NOTHING,
        id="for-zone-id-uri-form",
    ),
    # X-Forwarded-Proto
    pytest.param(
        {"x_proto": 1}, {"X-Forwarded-Proto": "https"}, changed(wsgi_url_scheme="https"), id="proto"
    ),
    pytest.param(
        {"x_proto": 1},
        {"X-Forwarded-Proto": "HTTPS"},
        changed(wsgi_url_scheme="https"),
        id="proto-case",
    ),
    pytest.param(
        {"x_proto": 1},
        {"X-Forwarded-Proto": "wss"},
        changed(wsgi_url_scheme="https"),
        id="proto-wss",
    ),
    pytest.param(
        {"x_proto": 1, "environ": {"wsgi.url_scheme": "https"}},
        {"X-Forwarded-Proto": "ws"},
        changed(wsgi_url_scheme="http"),
        id="proto-ws",
    ),
    pytest.param(
        {"x_proto": 1},
        {"X-Forwarded-Proto": "https, http"},
        changed(wsgi_url_scheme="http"),
        id="proto-last-value",
    ),
    pytest.param(
        {"x_proto": 2},
        {"X-Forwarded-Proto": "https, http"},
        changed(wsgi_url_scheme="https"),
        id="proto-two-proxies",
    ),
    pytest.param({"x_proto": 1}, {"X-Forwarded-Proto": "ftp"}, NOTHING, id="proto-unknown-scheme"),
    pytest.param({"x_proto": 1}, {"X-Forwarded-Proto": "https:"}, NOTHING, id="proto-junk"),
    # X-Forwarded-Host
    pytest.param(
        {"x_host": 1},
        {"X-Forwarded-Host": "example.com"},
        changed(HTTP_HOST="example.com", SERVER_NAME="example.com", SERVER_PORT="80"),
        id="host",
    ),
    pytest.param(
        {"x_host": 1},
        {"X-Forwarded-Host": "example.com:8443"},
        changed(HTTP_HOST="example.com:8443", SERVER_NAME="example.com", SERVER_PORT="8443"),
        id="host-port",
    ),
    pytest.param(
        {"x_host": 1},
        {"X-Forwarded-Host": "example.com:80"},
        changed(HTTP_HOST="example.com", SERVER_NAME="example.com", SERVER_PORT="80"),
        id="host-default-port-omitted",
    ),
    pytest.param(
        {"x_host": 1, "x_proto": 1},
        {"X-Forwarded-Host": "example.com", "X-Forwarded-Proto": "https"},
        changed(
            wsgi_url_scheme="https",
            HTTP_HOST="example.com",
            SERVER_NAME="example.com",
            SERVER_PORT="443",
        ),
        id="host-https-default-port",
    ),
    pytest.param(
        {"x_host": 1, "x_proto": 1},
        {"X-Forwarded-Host": "example.com:443", "X-Forwarded-Proto": "https"},
        changed(
            wsgi_url_scheme="https",
            HTTP_HOST="example.com",
            SERVER_NAME="example.com",
            SERVER_PORT="443",
        ),
        id="host-https-443-omitted",
    ),
    pytest.param(
        {"x_host": 1, "x_proto": 1},
        {"X-Forwarded-Host": "example.com:80", "X-Forwarded-Proto": "https"},
        changed(
            wsgi_url_scheme="https",
            HTTP_HOST="example.com:80",
            SERVER_NAME="example.com",
            SERVER_PORT="80",
        ),
        id="host-https-80-kept",
    ),
    pytest.param(
        {"x_host": 1},
        {"X-Forwarded-Host": "[2001:db8::1]:8080"},
        changed(HTTP_HOST="[2001:db8::1]:8080", SERVER_NAME="[2001:db8::1]", SERVER_PORT="8080"),
        id="host-ipv6-port",
    ),
    pytest.param(
        {"x_host": 1},
        {"X-Forwarded-Host": "[2001:db8::1]"},
        changed(HTTP_HOST="[2001:db8::1]", SERVER_NAME="[2001:db8::1]", SERVER_PORT="80"),
        id="host-ipv6",
    ),
    pytest.param(
        {"x_host": 2},
        {"X-Forwarded-Host": "example.com, internal-lb"},
        changed(HTTP_HOST="example.com", SERVER_NAME="example.com", SERVER_PORT="80"),
        id="host-two-proxies",
    ),
    pytest.param(
        {"x_host": 1}, {"X-Forwarded-Host": "evil.test/reset"}, NOTHING, id="host-with-path"
    ),
    pytest.param({"x_host": 1}, {"X-Forwarded-Host": "a b"}, NOTHING, id="host-with-space"),
    pytest.param(
        {"x_host": 1}, {"X-Forwarded-Host": "user@evil.test"}, NOTHING, id="host-with-userinfo"
    ),
    pytest.param(
        {"x_host": 1}, {"X-Forwarded-Host": "example.com:0"}, NOTHING, id="host-port-zero"
    ),
    pytest.param(
        {"x_host": 1}, {"X-Forwarded-Host": "example.com:65536"}, NOTHING, id="host-port-too-big"
    ),
    pytest.param({"x_host": 1}, {"X-Forwarded-Host": "[not-ipv6]"}, NOTHING, id="host-bad-ipv6"),
    pytest.param({"x_host": 1}, {"X-Forwarded-Host": ""}, NOTHING, id="host-empty"),
    pytest.param({}, {"X-Forwarded-Host": "evil.test"}, NOTHING, id="host-off-by-default"),
    # X-Forwarded-Port
    pytest.param(
        {"x_port": 1},
        {"X-Forwarded-Port": "8443"},
        changed(HTTP_HOST="internal:8443", SERVER_NAME="internal", SERVER_PORT="8443"),
        id="port",
    ),
    pytest.param(
        {"x_port": 1},
        {"X-Forwarded-Port": "80"},
        changed(HTTP_HOST="internal", SERVER_NAME="internal", SERVER_PORT="80"),
        id="port-default-omitted",
    ),
    pytest.param(
        {"x_port": 1, "environ": {"HTTP_HOST": "[::1]:8000"}},
        {"X-Forwarded-Port": "9000"},
        changed(HTTP_HOST="[::1]:9000", SERVER_NAME="[::1]", SERVER_PORT="9000"),
        id="port-ipv6-host",
    ),
    pytest.param(
        {"x_port": 1, "environ": {"HTTP_HOST": "[::1]"}},
        {"X-Forwarded-Port": "9000"},
        changed(HTTP_HOST="[::1]:9000", SERVER_NAME="[::1]", SERVER_PORT="9000"),
        id="port-ipv6-host-no-port",
    ),
    pytest.param(
        {"x_port": 1, "x_host": 1},
        {"X-Forwarded-Port": "8443", "X-Forwarded-Host": "example.com:9999"},
        changed(HTTP_HOST="example.com:8443", SERVER_NAME="example.com", SERVER_PORT="8443"),
        id="port-wins-over-host-port",
    ),
    pytest.param({"x_port": 1}, {"X-Forwarded-Port": "0"}, NOTHING, id="port-zero"),
    pytest.param({"x_port": 1}, {"X-Forwarded-Port": "65536"}, NOTHING, id="port-too-big"),
    pytest.param({"x_port": 1}, {"X-Forwarded-Port": "8o"}, NOTHING, id="port-not-digits"),
    pytest.param(
        {"x_port": 1}, {"X-Forwarded-Port": "\u00b2"}, NOTHING, id="port-latin1-superscript-digit"
    ),
    # X-Forwarded-Prefix
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/app"}, changed(SCRIPT_NAME="/app"), id="prefix"
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/app/v1/"},
        changed(SCRIPT_NAME="/app/v1"),
        id="prefix-trailing-slash",
    ),
    pytest.param(
        {"x_prefix": 1, "environ": {"SCRIPT_NAME": "/mounted"}},
        {"X-Forwarded-Prefix": "/app"},
        changed(SCRIPT_NAME="/app/mounted"),
        id="prefix-outside-server-mount",
    ),
    pytest.param({"x_prefix": 1}, {"X-Forwarded-Prefix": "/"}, NOTHING, id="prefix-root"),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "app"}, NOTHING, id="prefix-no-leading-slash"
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "//evil.test"},
        NOTHING,
        id="prefix-protocol-relative",
    ),
    pytest.param({"x_prefix": 1}, {"X-Forwarded-Prefix": "/a b"}, NOTHING, id="prefix-space"),
    pytest.param({"x_prefix": 1}, {"X-Forwarded-Prefix": "/a?b=1"}, NOTHING, id="prefix-query"),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/app.v2/.well"},
        changed(SCRIPT_NAME="/app.v2/.well"),
        id="prefix-dots-inside-names",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/my%20app"},
        changed(SCRIPT_NAME="/my app"),
        id="prefix-percent-decoded",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/caf%C3%a9"},
        changed(SCRIPT_NAME="/caf\xc3\xa9"),
        id="prefix-utf8-bytes-as-latin1",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/100%25"},
        changed(SCRIPT_NAME="/100%"),
        id="prefix-encoded-percent",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/app%2F"},
        changed(SCRIPT_NAME="/app"),
        id="prefix-encoded-trailing-slash",
    ),
    pytest.param({"x_prefix": 1}, {"X-Forwarded-Prefix": "/a%zz"}, NOTHING, id="prefix-bad-escape"),
    pytest.param({"x_prefix": 1}, {"X-Forwarded-Prefix": "/a%"}, NOTHING, id="prefix-lone-percent"),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/a%2"}, NOTHING, id="prefix-short-escape"
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/%2Fevil.test"},
        NOTHING,
        id="prefix-encoded-protocol-relative",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/a%2f%2fb"},
        NOTHING,
        id="prefix-encoded-empty-segment",
    ),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/app/.."}, NOTHING, id="prefix-dot-dot-segment"
    ),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/./app"}, NOTHING, id="prefix-dot-segment"
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/app/%2e%2E/admin"},
        NOTHING,
        id="prefix-encoded-dot-dot-segment",
    ),
    pytest.param(
        {"x_prefix": 1},
        {"X-Forwarded-Prefix": "/a%0d%0aSet-Cookie:x"},
        NOTHING,
        id="prefix-encoded-crlf",
    ),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/a%00"}, NOTHING, id="prefix-encoded-nul"
    ),
    pytest.param(
        {"x_prefix": 1}, {"X-Forwarded-Prefix": "/a%7F"}, NOTHING, id="prefix-encoded-del"
    ),
    # Combinations and defaults
    pytest.param(
        {},
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        changed(REMOTE_ADDR="203.0.113.7", wsgi_url_scheme="https"),
        id="defaults-for-and-proto",
    ),
    pytest.param(
        {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 1},
        {
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "example.com",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Prefix": "/app",
        },
        changed(
            REMOTE_ADDR="203.0.113.7",
            wsgi_url_scheme="https",
            HTTP_HOST="example.com",
            SERVER_NAME="example.com",
            SERVER_PORT="443",
            SCRIPT_NAME="/app",
        ),
        id="all-five",
    ),
    pytest.param(
        {"x_for": 1, "x_proto": 1, "x_host": 1},
        {"X-Forwarded-For": "bogus", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "bad host"},
        changed(wsgi_url_scheme="https"),
        id="bad-fields-ignored-one-by-one",
    ),
]


@pytest.mark.parametrize(("options", "headers", "expected"), X_CASES)
def test_x_forwarded(
    options: dict[str, Any], headers: dict[str, str], expected: dict[str, Any]
) -> None:
    environ = options.pop("environ", {})
    base = BASE | environ
    seen = run(headers, environ=environ, **options)
    assert view(seen) == base | expected
    assert_orig(seen, base, expected)


def assert_orig(seen: dict[str, Any], base: dict[str, Any], expected: dict[str, Any]) -> None:
    """The originals of exactly the keys set are kept; nothing set, no record."""
    if expected:
        assert seen[ORIG_KEY] == {key: base[key] for key in expected}
    else:
        assert ORIG_KEY not in seen


def test_orig_holds_exactly_the_keys_set() -> None:
    seen = run({"X-Forwarded-For": "203.0.113.7"}, x_proto=0)
    assert seen[ORIG_KEY] == {"REMOTE_ADDR": "127.0.0.1"}
    seen = run({"X-Forwarded-Prefix": "/app"}, x_prefix=1)
    assert seen[ORIG_KEY] == {"SCRIPT_NAME": ""}


def test_orig_records_absent_keys_as_none() -> None:
    seen = run({"X-Forwarded-Port": "8443"}, x_port=1, environ={"HTTP_HOST": ""})
    assert seen["HTTP_HOST"] == "internal:8443"
    assert seen[ORIG_KEY]["HTTP_HOST"] == ""


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        pytest.param("/my%20app", "http://internal:8000/my%20app/x", id="space"),
        pytest.param("/caf%C3%A9", "http://internal:8000/caf%C3%A9/x", id="utf8"),
        pytest.param("/a%2Bb", "http://internal:8000/a%2Bb/x", id="plus"),
    ],
)
def test_prefix_url_reconstruction_gives_the_client_url(prefix: str, url: str) -> None:
    # PEP 3333 "URL Reconstruction" quotes SCRIPT_NAME, so it must hold the decoded prefix.
    seen = run({"X-Forwarded-Prefix": prefix}, x_prefix=1, environ={"PATH_INFO": "/x"})
    assert request_uri(seen) == url


def test_repeated_header_lines_joined_by_the_server_count_as_one_list() -> None:
    # Servers join repeated header lines with "," (RFC 9110 section 5.3); the count spans both.
    seen = run({"X-Forwarded-For": "6.6.6.6,203.0.113.7, 10.0.0.2"}, x_for=2)
    assert seen["REMOTE_ADDR"] == "203.0.113.7"


# --- the trust gate ---------------------------------------------------------------------------

HEADERS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize(
    ("trusted", "peer", "applied"),
    [
        pytest.param(("127.0.0.1", "::1"), "127.0.0.1", True, id="default-ipv4-loopback"),
        pytest.param(("127.0.0.1", "::1"), "::1", True, id="default-ipv6-loopback"),
        pytest.param(("127.0.0.1", "::1"), "::ffff:127.0.0.1", True, id="ipv4-mapped-peer"),
        pytest.param(("127.0.0.1", "::1"), "10.0.0.5", False, id="default-other-peer"),
        pytest.param(("127.0.0.1", "::1"), "127.0.0.2", False, id="default-is-one-address"),
        pytest.param(["10.0.0.0/8"], "10.1.2.3", True, id="cidr-inside"),
        pytest.param(["10.0.0.0/8"], "11.0.0.1", False, id="cidr-outside"),
        pytest.param(["2001:db8::/32"], "2001:db8:1::7", True, id="ipv6-cidr-inside"),
        pytest.param(["2001:db8::/32"], "2001:db9::7", False, id="ipv6-cidr-outside"),
        pytest.param(["fe80::/10"], "fe80::1%eth0", True, id="ipv6-scoped-peer"),
        pytest.param(["::ffff:10.0.0.2"], "::ffff:10.0.0.2", True, id="mapped-entry-mapped-peer"),
        pytest.param(["::ffff:10.0.0.2"], "10.0.0.2", True, id="mapped-entry-ipv4-peer"),
        pytest.param(["::ffff:10.0.0.2"], "10.0.0.3", False, id="mapped-entry-is-one-address"),
        pytest.param(["::ffff:10.0.0.0/104"], "::ffff:10.1.2.3", True, id="mapped-network-inside"),
        pytest.param(["::ffff:10.0.0.0/104"], "10.1.2.3", True, id="mapped-network-ipv4-peer"),
        pytest.param(
            ["::ffff:10.0.0.0/104"], "::ffff:11.0.0.1", False, id="mapped-network-outside"
        ),
        pytest.param(["::ffff:0:0/96"], "198.51.100.1", True, id="mapped-96-is-all-ipv4"),
        pytest.param(["::/0"], "::ffff:10.0.0.2", False, id="ipv6-supernet-not-ipv4-peers"),
        pytest.param(["10.0.0.0/8", "192.168.0.1"], "192.168.0.1", True, id="list"),
        pytest.param(["*"], "198.51.100.1", True, id="star-any-ip"),
        pytest.param(["*"], "", True, id="star-unix"),
        pytest.param(["unix"], "", True, id="unix-empty-gunicorn"),
        pytest.param(["unix"], "localhost", True, id="unix-waitress-name"),
        pytest.param(["unix"], None, True, id="unix-absent"),
        pytest.param(["unix"], "127.0.0.1", False, id="unix-not-tcp"),
        pytest.param(("127.0.0.1",), "", False, id="empty-peer-without-unix"),
        pytest.param(("127.0.0.1",), None, False, id="absent-peer-without-unix"),
        pytest.param([], "127.0.0.1", False, id="nobody"),
    ],
)
def test_trust_gate(trusted: Any, peer: str | None, applied: bool) -> None:
    app, seen = echo_app()
    env: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https"}
    if peer is not None:
        env["REMOTE_ADDR"] = peer
    before = dict(env)
    drive(ProxyFix(validator(app), trusted=trusted), environ=env)
    if applied:
        assert seen["REMOTE_ADDR"] == "203.0.113.7"
        assert seen["wsgi.url_scheme"] == "https"
        assert seen[ORIG_KEY]["REMOTE_ADDR"] == peer
    else:
        assert seen.get("REMOTE_ADDR") == before.get("REMOTE_ADDR")
        assert seen["wsgi.url_scheme"] == "http"
        assert ORIG_KEY not in seen


def test_untrusted_peer_changes_nothing_at_all() -> None:
    app, seen = echo_app()
    env: dict[str, Any] = {
        "REMOTE_ADDR": "198.51.100.9",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_HOST": "evil.test",
        "HTTP_FORWARDED": "for=203.0.113.7",
    }
    fixed = ProxyFix(app, x_host=1)
    fixed2 = ProxyFix(app, forwarded=1)
    for mw in (fixed, fixed2):
        drive(mw, environ=env)
        reference = dict(seen)
        drive(app, environ=env)
        volatile = {"wsgi.input", "wsgi.errors"}  # new per drive()
        assert {k: v for k, v in reference.items() if k not in volatile} == {
            k: v for k, v in seen.items() if k not in volatile
        }


def test_peer_cache_is_bounded() -> None:
    app, _ = echo_app()
    fixed = ProxyFix(app)
    for i in range(3000):
        fixed({"REMOTE_ADDR": f"10.{i // 256}.{i % 256}.1"}, lambda *a: None)
    assert fixed._peer_trusted.cache_info().currsize <= 1024


def test_long_header_is_read_but_not_remembered() -> None:
    app, seen = echo_app()
    fixed = ProxyFix(app)
    header = "6.6.6.6, " * 40 + "203.0.113.7"
    drive(fixed, environ={"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": header})
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    cached = fixed._x_rows[0][1]
    assert cached.cache_info().currsize == 0  # type: ignore[attr-defined]
    drive(fixed, environ={"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.8"})
    assert seen["REMOTE_ADDR"] == "203.0.113.8"
    assert cached.cache_info().currsize == 1  # type: ignore[attr-defined]


# --- RFC 7239 Forwarded -----------------------------------------------------------------------

F_CASES = [
    pytest.param(
        1,
        "for=203.0.113.7;proto=https;host=example.com",
        changed(
            REMOTE_ADDR="203.0.113.7",
            wsgi_url_scheme="https",
            HTTP_HOST="example.com",
            SERVER_NAME="example.com",
            SERVER_PORT="443",
        ),
        id="all",
    ),
    pytest.param(
        1,
        "For=203.0.113.7;PROTO=https",
        changed(REMOTE_ADDR="203.0.113.7", wsgi_url_scheme="https"),
        id="names-case-insensitive",
    ),
    pytest.param(
        1,
        'for="[2001:db8:cafe::17]:4711"',
        changed(REMOTE_ADDR="2001:db8:cafe::17"),
        id="quoted-ipv6-port",
    ),
    pytest.param(
        1,
        "for=[2001:db8:cafe::17]",
        changed(REMOTE_ADDR="2001:db8:cafe::17"),
        id="unquoted-ipv6-lenient",
    ),
    pytest.param(
        1, 'for="203.0.113.7:4711"', changed(REMOTE_ADDR="203.0.113.7"), id="quoted-ipv4-port"
    ),
    pytest.param(
        1, 'for="203.0.113.7:_p0rt"', changed(REMOTE_ADDR="203.0.113.7"), id="obfuscated-port"
    ),
    pytest.param(1, 'for="\\2\\03.0.113.7"', changed(REMOTE_ADDR="203.0.113.7"), id="quoted-pair"),
    pytest.param(
        1,
        "for=_hidden;proto=https",
        changed(wsgi_url_scheme="https"),
        id="obfuscated-keeps-remote-addr",
    ),
    pytest.param(1, "for=unknown", NOTHING, id="unknown-keeps-remote-addr"),
    pytest.param(
        1, "for=6.6.6.6, for=203.0.113.7", changed(REMOTE_ADDR="203.0.113.7"), id="last-element"
    ),
    pytest.param(
        2,
        "for=6.6.6.6, for=203.0.113.7;proto=https, for=10.0.0.2;proto=http",
        changed(REMOTE_ADDR="203.0.113.7", wsgi_url_scheme="https"),
        id="two-proxies-outermost-element",
    ),
    pytest.param(2, "for=203.0.113.7", NOTHING, id="fewer-elements-than-count"),
    pytest.param(
        1,
        'host="example.com:8443"',
        changed(HTTP_HOST="example.com:8443", SERVER_NAME="example.com", SERVER_PORT="8443"),
        id="host-with-port",
    ),
    pytest.param(1, 'host="evil.test/x"', NOTHING, id="bad-host"),
    pytest.param(1, "proto=gopher", NOTHING, id="bad-proto"),
    pytest.param(
        1, "for=203.0.113.7;by=10.0.0.1", changed(REMOTE_ADDR="203.0.113.7"), id="by-recorded-only"
    ),
    pytest.param(
        1, "for=203.0.113.7;for=6.6.6.6", NOTHING, id="repeated-parameter-element-ignored"
    ),
    pytest.param(
        1,
        "for=6.6.6.6;;;, for=203.0.113.7",
        changed(REMOTE_ADDR="203.0.113.7"),
        id="malformed-left-element-harmless",
    ),
    pytest.param(
        1,
        'for=", for=203.0.113.7',
        changed(REMOTE_ADDR="203.0.113.7"),
        id="unterminated-quote-left",
    ),
    pytest.param(2, "garbage, for=203.0.113.7", NOTHING, id="malformed-trusted-element"),
    pytest.param(1, 'for="[fe80::1%a b<script>]"', NOTHING, id="zone-id-ignored"),
    pytest.param(
        1,
        'for="[::ffff:203.0.113.7]:4711"',
        changed(REMOTE_ADDR="203.0.113.7"),
        id="ipv4-mapped-unwrapped",
    ),
    pytest.param(
        1, "for=203.0.113.7, ,", changed(REMOTE_ADDR="203.0.113.7"), id="empty-elements-skipped"
    ),
    pytest.param(1, "", NOTHING, id="empty-header"),
]


@pytest.mark.parametrize(("count", "header", "expected"), F_CASES)
def test_forwarded(count: int, header: str, expected: dict[str, Any]) -> None:
    seen = run({"Forwarded": header}, forwarded=count)
    assert view(seen) == BASE | expected
    assert_orig(seen, BASE, expected)


def test_forwarded_ignores_x_forwarded_headers() -> None:
    seen = run({"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, forwarded=1)
    assert view(seen) == BASE


def test_forwarded_records_the_trusted_elements() -> None:
    seen = run(
        {"Forwarded": 'for=6.6.6.6, for="_client";by=10.0.0.1, for=10.0.0.1;BY="_lb"'},
        forwarded=2,
    )
    assert seen[FORWARDED_KEY] == [
        {"for": "_client", "by": "10.0.0.1"},
        {"for": "10.0.0.1", "by": "_lb"},
    ]
    assert seen["REMOTE_ADDR"] == "127.0.0.1"  # "_client" is not an address: left alone


@pytest.mark.parametrize(
    ("header", "elements"),
    [
        pytest.param('for="_gazonk"', [{"for": "_gazonk"}], id="rfc7239-example-obfuscated"),
        pytest.param(
            'For="[2001:db8:cafe::17]:4711"',
            [{"for": "[2001:db8:cafe::17]:4711"}],
            id="rfc7239-example-ipv6",
        ),
        pytest.param(
            "for=192.0.2.60;proto=http;by=203.0.113.43",
            [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}],
            id="rfc7239-example-pairs",
        ),
        pytest.param(
            "for=192.0.2.43, for=198.51.100.17",
            [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}],
            id="rfc7239-example-list",
        ),
        pytest.param('for="a,b;c=d"', [{"for": "a,b;c=d"}], id="separators-inside-quotes"),
        pytest.param('for="a\\"b\\\\"', [{"for": 'a"b\\'}], id="quoted-pairs"),
        pytest.param("for=a;", [{"for": "a"}], id="trailing-semicolon"),
        pytest.param("for = a, for=b", [{}, {"for": "b"}], id="spaces-around-equals"),
        pytest.param(",,for=a,,", [{"for": "a"}], id="empty-elements"),
    ],
)
def test_parse_forwarded(header: str, elements: list[dict[str, str]]) -> None:
    assert parse_forwarded(header) == elements


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option", ["x_for", "x_proto", "x_host", "x_port", "x_prefix", "forwarded"]
)
def test_negative_count_is_refused_by_name(option: str) -> None:
    with pytest.raises(ValueError, match=option):
        ProxyFix(echo_app()[0], **{option: -1})


@pytest.mark.parametrize("value", [True, "1", 1.0])
def test_non_int_count_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="x_host"):
        ProxyFix(echo_app()[0], x_host=value)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.1/8", "not-an-ip", "2001:db8::/129", ""])
def test_invalid_trusted_entry_is_refused_by_name(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted"):
        ProxyFix(echo_app()[0], trusted=[entry])


def test_trusted_as_a_bare_string_is_refused() -> None:
    with pytest.raises(TypeError, match="trusted"):
        ProxyFix(echo_app()[0], trusted="10.0.0.1")


@pytest.mark.parametrize(
    "trusted",
    [
        pytest.param(None, id="none"),
        pytest.param(5, id="int"),
        pytest.param(b"10.0.0.1", id="bytes"),
    ],
)
def test_trusted_not_a_list_is_refused_by_name(trusted: Any) -> None:
    with pytest.raises(TypeError, match=r"trusted must be a list of addresses and networks"):
        ProxyFix(echo_app()[0], trusted=trusted)


@pytest.mark.parametrize("entry", ["::ffff:10.0.0.0/88", "::ffff:0:0/64"])
def test_ipv4_mapped_prefix_shorter_than_96_is_refused_with_the_fix(entry: str) -> None:
    with pytest.raises(ValueError, match=r"trusted: .* needs a prefix of /96 or more"):
        ProxyFix(echo_app()[0], trusted=[entry])


@pytest.mark.parametrize(
    "extra", [{"x_for": 1}, {"x_proto": 2}, {"x_host": 1}, {"x_port": 1}, {"x_prefix": 1}]
)
def test_forwarded_with_an_x_count_is_refused(extra: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="forwarded=1 cannot be combined"):
        ProxyFix(echo_app()[0], forwarded=1, **extra)


def test_forwarded_turns_the_x_defaults_off() -> None:
    fixed = ProxyFix(echo_app()[0], forwarded=1)
    assert (fixed.x_for, fixed.x_proto, fixed.forwarded) == (0, 0, 1)
    explicit = ProxyFix(echo_app()[0], forwarded=1, x_for=0, x_proto=0, x_host=0)
    assert (explicit.x_for, explicit.x_proto) == (0, 0)
    werkzeug_like = ProxyFix(echo_app()[0])
    assert (werkzeug_like.x_for, werkzeug_like.x_proto, werkzeug_like.x_host) == (1, 1, 0)


def test_all_counts_zero_is_a_pass_through() -> None:
    seen = run(HEADERS, x_for=0, x_proto=0)
    assert view(seen) == BASE
    assert ORIG_KEY not in seen


# --- the response is the app's own, closed once on every path --------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_response_passes_through_and_is_closed_once(form: str) -> None:
    app, record = make_app(form, [b"a", b"b"])
    result = drive(ProxyFix(app), environ={"REMOTE_ADDR": "127.0.0.1", **_http(HEADERS)})
    assert (result.status, result.body) == ("200 OK", b"ab")
    assert closes(record) == 1


def test_body_is_not_wrapped() -> None:
    app, record = make_app("list", [b"a"])
    body = ProxyFix(app)({"REMOTE_ADDR": "127.0.0.1"}, lambda *a: None)
    assert body is record["body"]


def test_body_error_still_closes_once() -> None:
    from tests.wsgi_helpers import Body

    body = Body([b"a", b"b"], raise_at=1)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with pytest.raises(ValueError, match="boom"):
        drive(ProxyFix(app), environ={"REMOTE_ADDR": "127.0.0.1"})
    assert body.closed == 1


def _http(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


# --- properties: any header bytes give the documented rewrite or no change --------------------

# PEP 3333 gives header values as latin-1 decoded str; mix raw text with fragments that make
# near-valid values likely.
FRAGMENTS = [
    ",",
    ", ",
    ";",
    "=",
    '"',
    "\\",
    "[",
    "]",
    ":",
    "/",
    " ",
    "\t",
    "_x",
    "unknown",
    "203.0.113.7",
    "10.0.0.1",
    "2001:db8::1",
    "[2001:db8::1]:80",
    "::ffff:1.2.3.4",
    "fe80::1%eth0",
    "%2F",
    "%2e",
    "%20",
    "%0a",
    "%zz",
    "%",
    "443",
    "0",
    "65536",
    "8080",
    "http",
    "https",
    "HTTPS",
    "wss",
    "example.com",
    "example.com:8443",
    "/app",
    "/app/",
    "//x",
    "for=",
    "proto=",
    "host=",
    "by=",
    "For=",
    "\u00b2",
    "\x00",
    "\xff",
]
latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
header_value = st.one_of(latin1, st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
count = st.integers(min_value=0, max_value=3)


def _element(header: str, n: int) -> str | None:
    values = header.split(",")
    return values[-n].strip(" \t") if n and len(values) >= n else None


def _same_ip(value: str, candidate: str) -> bool:
    """``value`` is the canonical form of the address in ``candidate`` (port/brackets aside)."""
    ipaddress.ip_address(value)  # raises if REMOTE_ADDR is not an address
    return value in {_canonical_ip(part) for part in _address_forms(candidate) if _is_ip(part)}


def _canonical_ip(text: str) -> str:
    """The documented form: IPv4-mapped addresses as IPv4, everything else as ipaddress prints."""
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _address_forms(candidate: str) -> set[str]:
    inner = candidate[1:].partition("]")[0] if candidate.startswith("[") else candidate
    return {candidate, inner, candidate.rsplit(":", 1)[0]}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_rewrite(
    before: dict[str, Any], seen: dict[str, Any], fields: dict[str, str | None]
) -> None:
    """Every changed key is the documented rewrite of the field it comes from."""
    diff = {key for key in set(before) | set(seen) if before.get(key) != seen.get(key)}
    assert diff <= {*WATCHED, ORIG_KEY, FORWARDED_KEY}
    changed_keys = diff & set(WATCHED)
    if changed_keys:
        assert {key: seen[ORIG_KEY][key] for key in changed_keys} == {
            key: before.get(key) for key in changed_keys
        }
    if "REMOTE_ADDR" in changed_keys:
        assert fields["for"] is not None
        assert "%" not in seen["REMOTE_ADDR"]  # no zone id text
        assert _same_ip(seen["REMOTE_ADDR"], fields["for"])
    if "wsgi.url_scheme" in changed_keys:
        assert fields["proto"] is not None
        assert seen["wsgi.url_scheme"] == {"ws": "http", "wss": "https"}.get(
            fields["proto"].lower(), fields["proto"].lower()
        )
    if changed_keys & {"HTTP_HOST", "SERVER_NAME", "SERVER_PORT"}:
        assert fields["host"] is not None or fields.get("port") is not None
        host = seen["HTTP_HOST"]
        assert host.isascii()
        assert not any(c in host for c in " \t/@?#\\")
        assert seen["SERVER_PORT"].isdigit()
        assert 0 < int(seen["SERVER_PORT"]) < 65536
        assert host.startswith(seen["SERVER_NAME"])
        # The name comes from the forwarded host when it parsed, else from the request's own.
        assert seen["SERVER_NAME"] == "internal" or (fields["host"] or "").startswith(
            seen["SERVER_NAME"]
        )
        port = fields.get("port") or ""
        if port.isascii() and port.isdigit() and 0 < int(port) < 65536:  # a valid port wins
            assert int(port) == int(seen["SERVER_PORT"])
    if "SCRIPT_NAME" in changed_keys:
        prefix = fields.get("prefix")
        assert prefix is not None
        decoded = unquote(prefix, encoding="latin-1").rstrip("/")
        assert seen["SCRIPT_NAME"] == decoded + before["SCRIPT_NAME"]
        assert "//" not in decoded
        assert {".", ".."}.isdisjoint(decoded.split("/"))
        assert not any(c < " " or c == "\x7f" for c in decoded)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.fixed_dictionaries(
        {name: header_value for name in ("for", "proto", "host", "port", "prefix")}
    ),
    counts=st.fixed_dictionaries(
        {name: count for name in ("for", "proto", "host", "port", "prefix")}
    ),
    trusted_peer=st.booleans(),
)
def test_any_x_forwarded_bytes_give_the_rewrite_or_nothing(
    values: dict[str, str], counts: dict[str, int], trusted_peer: bool
) -> None:
    app, seen = echo_app()
    before: dict[str, Any] = {
        "REMOTE_ADDR": "127.0.0.1" if trusted_peer else "198.51.100.1",
        "HTTP_HOST": "internal:8000",
        "SERVER_NAME": "internal",
        "SERVER_PORT": "8000",
        "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http",
    }
    env = dict(before)
    for name, value in values.items():
        env[f"HTTP_X_FORWARDED_{name.upper()}"] = value
    before = dict(env)
    options = {f"x_{name}": n for name, n in counts.items()}
    drive(ProxyFix(validator(app), **options), environ=env)
    before = {k: v for k, v in before.items()}
    seen_subset = {k: v for k, v in seen.items() if k in before or k in (ORIG_KEY, FORWARDED_KEY)}
    if not trusted_peer:
        assert seen_subset == before
        return
    fields = {name: _element(values[name], counts[name]) for name in values}
    _check_rewrite(before, seen_subset, fields)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=header_value, n=st.integers(min_value=1, max_value=3))
def test_any_forwarded_bytes_give_the_rewrite_or_nothing(header: str, n: int) -> None:
    app, seen = echo_app()
    before: dict[str, Any] = {
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "internal:8000",
        "SERVER_NAME": "internal",
        "SERVER_PORT": "8000",
        "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http",
        "HTTP_FORWARDED": header,
    }
    drive(ProxyFix(validator(app), forwarded=n), environ=dict(before))
    seen_subset = {k: v for k, v in seen.items() if k in before or k in (ORIG_KEY, FORWARDED_KEY)}
    elements = parse_forwarded(header)
    element = elements[-n] if len(elements) >= n else {}
    fields = {name: element.get(name) for name in ("for", "proto", "host")}
    _check_rewrite(before, seen_subset, fields)
    if len(elements) < n:
        assert seen_subset == before


@settings(max_examples=200, deadline=None)
@given(header=header_value)
def test_parse_forwarded_never_raises(header: str) -> None:
    for element in parse_forwarded(header):
        assert all(name == name.lower() for name in element)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8)
quoted = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    elements=st.lists(
        st.dictionaries(
            st.sampled_from(["for", "by", "proto", "host"]), st.one_of(token, quoted), min_size=1
        ),
        min_size=1,
        max_size=4,
    )
)
def test_parse_forwarded_reads_back_what_a_proxy_writes(elements: list[dict[str, str]]) -> None:
    def serialise(value: str) -> str:
        if value and all((c.isalnum() and c.isascii()) or c in "._-" for c in value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(
        ";".join(f"{name}={serialise(value)}" for name, value in element.items())
        for element in elements
    )
    assert parse_forwarded(header) == elements
