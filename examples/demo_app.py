"""The demo behind ``middlewares serve examples/demo.toml``: a page that shows the stack working.

A plain WSGI app, no framework.  ``/`` is an HTML page that prints what the middlewares did to
this request: the client address ProxyFix resolved, the Accept-Encoding Compress negotiated
from, the request id RequestLogger assigned; it loads a static asset StaticFiles serves with
caching headers, and calls ``/api/hello``, which the Dispatcher mounts and CORS opens to the
configured origin.  Change ``app`` in demo.toml to your own ``"module:attribute"`` to wrap it
instead.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>middlewares demo</title>
  <link rel="stylesheet" href="{script_name}/static/demo.css">
</head>
<body>
  <h1>middlewares demo</h1>
  <p>Every line below was filled in by a middleware of the stack in
  <code>examples/demo.toml</code>; reload the page with other headers to see them change.</p>
  <table>
    <tr><th>Client address (ProxyFix)</th><td id="client">{client}</td></tr>
    <tr><th>Address the server saw</th><td id="peer">{peer}</td></tr>
    <tr><th>Scheme (ProxyFix)</th><td id="scheme">{scheme}</td></tr>
    <tr><th>Accept-Encoding sent (Compress negotiates)</th><td id="accept">{accept}</td></tr>
    <tr><th>Content-Encoding received</th><td id="encoding">(needs JavaScript)</td></tr>
    <tr><th>Request id (RequestLogger)</th><td id="request-id">{request_id}</td></tr>
    <tr><th>Static asset (StaticFiles)</th>
        <td><a href="{script_name}/static/demo.css">/static/demo.css</a>, cached</td></tr>
    <tr><th>CORS endpoint (Dispatcher mount)</th>
        <td><a href="{script_name}/api/hello">/api/hello</a></td></tr>
  </table>
  <p>Try: <code>curl -si -H 'X-Forwarded-For: 203.0.113.7' -H 'Accept-Encoding: br'
  http://127.0.0.1:8000/</code> and
  <code>curl -si -H 'Origin: http://localhost:3000' http://127.0.0.1:8000/api/hello</code>.</p>
  <script src="{script_name}/static/demo.js"></script>
</body>
</html>
"""


def _text(value: object) -> str:
    return html.escape(str(value)) if value else "-"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The demo page at ``/``; a plain 404 for anything else."""
    if environ.get("PATH_INFO", "/") not in ("", "/"):
        return not_found(environ, start_response)
    original = environ.get("middlewares.proxy_fix.orig") or {}
    body = PAGE.format(
        script_name=html.escape(environ.get("SCRIPT_NAME", "")),
        client=_text(environ.get("REMOTE_ADDR")),
        peer=_text(original.get("REMOTE_ADDR", environ.get("REMOTE_ADDR"))),
        scheme=_text(environ.get("wsgi.url_scheme")),
        accept=_text(environ.get("HTTP_ACCEPT_ENCODING")),
        request_id=_text(environ.get("middlewares.request_id")),
    ).encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def api(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A JSON endpoint, mounted at ``/api`` by the Dispatcher: ``/api/hello``."""
    if environ.get("PATH_INFO") != "/hello":
        return not_found(environ, start_response)
    body = json.dumps(
        {
            "hello": "world",
            "mounted_at": environ.get("SCRIPT_NAME", ""),
            "request_id": environ.get("middlewares.request_id"),
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A plain 404: the fallback of examples/several_apps.toml too."""
    body = b"Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
