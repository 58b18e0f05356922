"""ProxyFix behind real servers: a client on 127.0.0.1 sends the proxy headers over TCP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.servers import serve

pytestmark = pytest.mark.e2e

TIMEOUT = 10
# gunicorn applies X-Forwarded-Proto itself for peers in --forwarded-allow-ips (127.0.0.1 by
# default); switch that off so what the app sees is ProxyFix's work alone.
GUNICORN_ALONE = {"GUNICORN_CMD_ARGS": "--forwarded-allow-ips="}


def serve_proxy_fix(app: str) -> Any:
    return serve(f"tests.e2e.proxy_fix_apps:{app}", server="gunicorn", env=GUNICORN_ALONE)


def get(base_url: str, path: str = "/", **headers: str) -> dict[str, Any]:
    response = requests.get(base_url + path, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_x_forwarded_headers_from_a_trusted_peer() -> None:
    with serve_proxy_fix("x_forwarded") as base_url:
        plain = get(base_url)
        fixed = get(
            base_url,
            **{
                "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "example.com",
                "X-Forwarded-Port": "8443",
                "X-Forwarded-Prefix": "/app/",
            },
        )
        bad = get(
            base_url,
            **{
                "X-Forwarded-For": "not-an-ip",
                "X-Forwarded-Host": "evil.test/x",
                "X-Forwarded-Proto": "https",
            },
        )
    assert plain["REMOTE_ADDR"] == "127.0.0.1"
    assert plain["orig"] is None
    assert fixed["REMOTE_ADDR"] == "203.0.113.7"
    assert fixed["wsgi.url_scheme"] == "https"
    assert fixed["HTTP_HOST"] == "example.com:8443"
    assert (fixed["SERVER_NAME"], fixed["SERVER_PORT"]) == ("example.com", "8443")
    assert fixed["SCRIPT_NAME"] == "/app"
    assert fixed["orig"]["REMOTE_ADDR"] == "127.0.0.1"
    assert fixed["orig"]["HTTP_HOST"] == plain["HTTP_HOST"]
    # Bad fields are ignored one by one; the good one still applies.
    assert bad["REMOTE_ADDR"] == "127.0.0.1"
    assert bad["HTTP_HOST"] == plain["HTTP_HOST"]
    assert bad["wsgi.url_scheme"] == "https"


def test_forwarded_header_from_a_trusted_peer() -> None:
    with serve_proxy_fix("forwarded") as base_url:
        fixed = get(
            base_url,
            Forwarded='for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=HTTPS;host=example.com',
        )
        hidden = get(base_url, Forwarded="for=_hidden;by=_lb;proto=https")
    assert fixed["REMOTE_ADDR"] == "2001:db8:cafe::17"
    assert fixed["wsgi.url_scheme"] == "https"
    assert (fixed["HTTP_HOST"], fixed["SERVER_PORT"]) == ("example.com", "443")
    assert hidden["REMOTE_ADDR"] == "127.0.0.1"
    assert hidden["wsgi.url_scheme"] == "https"
    assert hidden["forwarded"] == [{"for": "_hidden", "by": "_lb", "proto": "https"}]


def test_headers_from_an_untrusted_peer_change_nothing() -> None:
    with serve_proxy_fix("untrusted") as base_url:
        plain = get(base_url)
        spoofed = get(
            base_url,
            **{
                "X-Forwarded-For": "203.0.113.7",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.test",
            },
        )
    assert spoofed == plain
    assert spoofed["REMOTE_ADDR"] == "127.0.0.1"
    assert spoofed["orig"] is None


def test_waitress_removes_proxy_headers_before_proxy_fix_sees_them() -> None:
    # waitress 3 clears X-Forwarded-* and Forwarded from peers that are not its own
    # trusted_proxy (clear_untrusted_proxy_headers=True): behind waitress, run it with
    # --no-clear-untrusted-proxy-headers for ProxyFix to see them (documented on the page).
    with serve("tests.e2e.proxy_fix_apps:x_forwarded", server="waitress") as base_url:
        seen = get(base_url, **{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["orig"] is None
