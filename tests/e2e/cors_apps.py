"""Apps for the CORS browser test: a page server and an API behind CORS (separate ports).

The API's allowed origin comes from ``CORS_E2E_ORIGIN`` (the page server's origin, known only
once that server runs).  ``/api/stats`` (same-origin, read by the test with ``requests``) says
how many preflights reached the CORS layer and how many PUTs reached the app, so the test can
check that a refused preflight kept the PUT from running.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from middlewares.cors import CORS

PAGE = Path(__file__).with_name("cors_page.html").read_bytes()
_lock = threading.Lock()
_counts = {"preflights": 0, "puts": 0}


def _count(name: str) -> None:
    with _lock:
        _counts[name] += 1


def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The test page, whatever the path (the favicon request gets it too, harmlessly)."""
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))],
    )
    return [PAGE]


def _json(start_response: Callable[..., Any], data: object, *extra: tuple[str, str]) -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra],
    )
    return [body]


def _api(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    cookie = environ.get("HTTP_COOKIE", "")
    if path == "/api/stats":
        with _lock:
            return _json(start_response, dict(_counts))
    if path == "/api/login":
        return _json(
            start_response, {"ok": True}, ("Set-Cookie", "session=s3cret; Path=/; SameSite=Lax")
        )
    if path == "/api/data" and method == "PUT":
        _count("puts")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        sent = json.loads(environ["wsgi.input"].read(size) or b"null")
        token = environ.get("HTTP_X_TOKEN")
        return _json(start_response, {"token": token, "sent": sent, "cookie": cookie})
    if path == "/api/data":
        return _json(
            start_response,
            {"hello": "world"},
            ("X-Request-Id", "req-42"),
            ("X-Secret", "not-exposed"),
        )
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def _count_preflights(app: Callable[..., Any]) -> Callable[..., Any]:
    def layer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ["REQUEST_METHOD"] == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            _count("preflights")
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return layer


api = _count_preflights(
    CORS(
        _api,
        allow_origins=[os.environ.get("CORS_E2E_ORIGIN", "http://127.0.0.1:9")],
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        expose_headers=["X-Request-Id"],
        max_age=0,
    )
)
