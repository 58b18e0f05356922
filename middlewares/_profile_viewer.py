"""The profile viewer of :class:`middlewares.profiler.Profiler`: a token-guarded, read-only page.

It lists the profiles found in ``profile_dir`` (so it shows those of every worker process) and
serves their files.  It has no action that changes anything (repoze.profile's page let anyone
clear the data), answers 404 without the token (so it does not reveal itself), and sends
``Referrer-Policy: no-referrer`` because its links carry the token.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from middlewares._profile_html import ProfileEntry, read_meta, viewer_page

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = ["Viewer"]

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_RECENT = 100
_HEAD_BYTES = 4096

_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    # Defence in depth behind html.escape: no script runs on these pages, nothing frames them.
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
]


class Viewer:
    """Serves ``path`` (the listing) and ``path/<file>`` (one profile file) to token holders."""

    def __init__(self, path: str, directory: str, token: str, extensions: Iterable[str]) -> None:
        if not isinstance(path, str) or not path.startswith("/") or not path.strip("/"):
            raise ValueError(f"viewer_path={path!r} must be a path such as '/_profiler'")
        self.path = path.rstrip("/")
        self._prefix = self.path + "/"
        self._dir = directory
        self._token = token
        # Longest first, so ".speedscope.json" is found before a shorter suffix would be.
        self._extensions = tuple(sorted(extensions, key=len, reverse=True))

    def claims(self, environ: WSGIEnvironment) -> bool:
        path = environ.get("PATH_INFO", "")
        return bool(path == self.path or path.startswith(self._prefix))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._authorised(environ):
            return _respond(start_response, environ, "404 Not Found", b"Not Found\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _respond(
                start_response,
                environ,
                "405 Method Not Allowed",
                b"Method Not Allowed\n",
                extra=[("Allow", "GET, HEAD")],
            )
        name = str(environ.get("PATH_INFO", ""))[len(self._prefix) :]
        if not name:
            prefix = str(environ.get("SCRIPT_NAME", "")) + self.path
            page = viewer_page(self._entries(), prefix, self._token)
            return _respond(start_response, environ, "200 OK", page, "text/html; charset=utf-8")
        ext = self._extension(name)
        if ext is None or not _NAME.fullmatch(name):
            return _respond(start_response, environ, "404 Not Found", b"Not Found\n")
        try:
            with open(os.path.join(self._dir, name), "rb") as handle:
                data = handle.read()
        except OSError:  # missing, a directory, unreadable: all the same to the client
            return _respond(start_response, environ, "404 Not Found", b"Not Found\n")
        if ext == ".html":
            return _respond(start_response, environ, "200 OK", data, "text/html; charset=utf-8")
        if ext.endswith(".json"):
            return _respond(start_response, environ, "200 OK", data, "application/json")
        disposition = [("Content-Disposition", f'attachment; filename="{name}"')]
        return _respond(
            start_response, environ, "200 OK", data, "application/octet-stream", extra=disposition
        )

    def _authorised(self, environ: WSGIEnvironment) -> bool:
        given = environ.get("HTTP_X_PROFILER_TOKEN")
        if given is None:
            query = str(environ.get("QUERY_STRING", ""))
            given = next((v for k, v in parse_qsl(query) if k == "token"), None)
        if given is None:
            return False
        return hmac.compare_digest(
            str(given).encode("utf-8", "surrogateescape"), self._token.encode()
        )

    def _extension(self, name: str) -> str | None:
        return next((ext for ext in self._extensions if name.endswith(ext)), None)

    def _entries(self) -> list[ProfileEntry]:
        groups: dict[str, ProfileEntry] = {}
        try:
            listing = list(os.scandir(self._dir))
        except OSError:
            return []
        for item in listing:
            ext = self._extension(item.name)
            if ext is None or not _NAME.fullmatch(item.name):
                continue
            try:
                mtime = item.stat().st_mtime
            except OSError:
                continue
            base = item.name[: -len(ext)]
            entry = groups.setdefault(base, ProfileEntry(base, [], mtime, {}))
            entry.files.append(item.name)
            entry.mtime = max(entry.mtime, mtime)
        recent = sorted(groups.values(), key=lambda e: -e.mtime)[:_RECENT]
        for entry in recent:
            entry.files.sort()
            if entry.base + ".html" in entry.files:
                try:
                    with open(os.path.join(self._dir, entry.base + ".html"), "rb") as handle:
                        entry.meta = read_meta(handle.read(_HEAD_BYTES))
                except OSError:
                    pass
        return recent


def _respond(
    start_response: StartResponse,
    environ: WSGIEnvironment,
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        *_SECURITY_HEADERS,
        *(extra or []),
    ]
    start_response(status, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
