"""StaticFiles: serve files from directories, with precompressed twins, caching and ranges."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Mapping
from io import FileIO
from types import MappingProxyType
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from middlewares._http_cache import (
    UNSATISFIABLE,
    if_match,
    if_none_match,
    if_range,
    parse_http_date,
    parse_range,
)
from middlewares._static_config import (
    Contained,
    checked_headers,
    content_types,
    immutable_pattern,
    index_name,
    max_age_seconds,
    mounts,
    positive,
)
from middlewares._static_index import (
    FileBody,
    Options,
    StaticFile,
    Variant,
    build_file,
    is_twin,
    split_path,
    walk,
)
from middlewares._wsgi import choose_encoding

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from middlewares._wsgi import Headers

__all__ = ["FileBody", "StaticFiles"]

_DEFAULT_DIRECTORIES: Final = MappingProxyType({"/static": "assets"})
# Servers known to stop a file_wrapper body at Content-Length (gunicorn's sendfile counts
# against it; waitress's buffer is prepared with it).  Others get a bounded iterator for 206.
_CAPPING_SERVERS = ("gunicorn.", "waitress.")


class _Hostile:
    """Marker: a path under a mount that can never name a file (answered 404)."""


class _Redirect:
    """Marker: a directory with an index file, asked for without its trailing slash."""


_HOSTILE: Final = _Hostile()
_REDIRECT: Final = _Redirect()
Found = StaticFile | _Hostile | _Redirect | None


class StaticFiles:
    """Serve files from directories; everything else goes to the wrapped app untouched.

    Answers ``GET`` and ``HEAD`` with strong per-encoding ``ETag``, ``Last-Modified``, 304s
    (``If-None-Match`` lists, ``W/``, ``*``; ``If-Modified-Since`` only without it), single byte
    ranges (206, or 416 with ``Content-Range: bytes */SIZE``; several ranges get the whole file,
    200), precompressed ``.br``/``.gz``/``.zst`` twins chosen by ``Accept-Encoding`` (smallest
    accepted first, never served by their own name), and ``405`` for other methods on a file.

    Security: nothing outside ``directories`` is served: ``..`` in any encoding, backslashes,
    NUL, absolute paths and drive letters get 404; symlinks leading out and dotfiles are
    treated as absent (the request goes to the app) unless ``follow_symlinks``/``hidden``.
    The index mode does not see files added later, and keeps serving files it holds in memory
    as they were; a file read from disk that changed since is served as ``autorefresh`` would.

    Usage::

        app = StaticFiles(app, directories={"/static": "assets"}, max_age=3600)

    :param app: the WSGI application for every request that is not a static file.
    :param directories: URL prefix -> directory; several allowed, the longest prefix wins.
    :param max_age: ``Cache-Control: max-age`` in seconds, ``None`` for no header.
    :param immutable: regular expression searched in the URL path; matching files (hashed
        names) get ``Cache-Control: max-age=31536000, public, immutable``; ``None`` for none.
    :param index: file served for a directory URL ending in ``/`` (``/docs`` redirects to
        ``/docs/``); ``None`` to disable.
    :param autorefresh: look files up on disk per request (development) instead of an index
        built at construction.
    :param precompressed: serve ``name.br``/``name.gz``/``name.zst`` twins when accepted.
    :param follow_symlinks: serve symlinks whose target is outside the directory.
    :param hidden: serve dotfiles and files in dot-directories (``.env``, ``.git``).
    :param mimetypes: suffix -> ``Content-Type`` overrides, e.g. ``{".wasm": "application/wasm"}``.
    :param headers: extra headers on every response StaticFiles answers (e.g. CORS), sent as
        given, repeats included; ``Vary`` merges, ``Cache-Control`` replaces ours, framing
        headers and values that are not latin-1 are refused.
    :param max_in_memory: files up to this many bytes are read into memory by the index.
    :param block_size: bytes per read (and per ``wsgi.file_wrapper`` block) for larger files.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        directories: Mapping[str, str | os.PathLike[str]] = _DEFAULT_DIRECTORIES,
        max_age: int | None = 60,
        immutable: str | re.Pattern[str] | None = r"\.[0-9a-f]{8,}\.",
        index: str | None = "index.html",
        autorefresh: bool = False,
        precompressed: bool = True,
        follow_symlinks: bool = False,
        hidden: bool = False,
        mimetypes: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        max_in_memory: int = 64 * 1024,
        block_size: int = 64 * 1024,
    ) -> None:
        self.app = app
        self.autorefresh = autorefresh
        self.index = index_name(index)
        self.hidden = hidden
        self.follow_symlinks = follow_symlinks
        self.block_size = positive("block_size", block_size)
        self.max_in_memory = positive("max_in_memory", max_in_memory, zero=True)
        extra = checked_headers(headers)
        self._extra = extra
        # What a lookup on disk builds (autorefresh, or a file changed since it was indexed):
        # nothing read ahead, so every body goes through _send's check of the open file.
        self.options = Options(
            max_age=max_age_seconds(max_age),
            immutable=immutable_pattern(immutable),
            content_types=content_types(mimetypes),
            headers=tuple(extra),
            precompressed=precompressed,
            max_in_memory=self.max_in_memory,
            load_data=False,
        )
        # (prefix as PATH_INFO spells it, root, real root), longest prefix first
        self._mounts = mounts(directories)
        self._index: dict[str, StaticFile | _Redirect] | None = None
        if not autorefresh:
            self._index = {}
            indexed = dataclasses.replace(self.options, load_data=True)
            for mount in self._mounts:
                prefix, root, real = mount
                for key, entry in walk(
                    prefix,
                    root,
                    indexed,
                    index=index,
                    hidden=hidden,
                    follow_symlinks=follow_symlinks,
                    contained=Contained(real, follow_symlinks),
                ):
                    if self._mount(key) is mount:  # a longer prefix owns its own subtree
                        self._index[key] = _REDIRECT if entry is None else entry

    # --- per request -----------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        found: Found
        if self._index is not None:
            found = self._index.get(path)
            if found is None:
                found = self._check(path)
        else:
            found = self._lookup(path)
        if found is None:
            return self.app(environ, start_response)
        if found is _HOSTILE:
            return self._plain(environ, start_response, "404 Not Found", [])
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return self._plain(
                environ, start_response, "405 Method Not Allowed", [("Allow", "GET, HEAD")]
            )
        if isinstance(found, StaticFile):
            return self._serve(found, environ, start_response, method == "HEAD")
        return self._redirect(environ, start_response)

    def _serve(
        self,
        file: StaticFile,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        head: bool,
        looked_again: bool = False,
    ) -> Iterable[bytes]:
        get = environ.get
        variant = file.by_coding[
            choose_encoding(get("HTTP_ACCEPT_ENCODING"), file.offered) if file.offered else None
        ]
        # Preconditions in the order of RFC 9110 section 13.2.2.
        condition = get("HTTP_IF_MATCH")
        if condition is not None:
            if not if_match(condition, variant.etag):
                return self._plain(environ, start_response, "412 Precondition Failed", [])
        else:
            condition = get("HTTP_IF_UNMODIFIED_SINCE")
            if condition is not None:
                since = parse_http_date(condition)
                if since is not None and variant.mtime > since:
                    return self._plain(environ, start_response, "412 Precondition Failed", [])
        condition = get("HTTP_IF_NONE_MATCH")
        if condition is not None:
            if if_none_match(condition, variant.etag):
                start_response("304 Not Modified", list(variant.not_modified))
                return []
        else:
            condition = get("HTTP_IF_MODIFIED_SINCE")
            if condition is not None:
                since = parse_http_date(condition)
                if since is not None and variant.mtime <= since:
                    start_response("304 Not Modified", list(variant.not_modified))
                    return []
        header = get("HTTP_RANGE")
        # Range is defined for GET only (RFC 9110 section 14.2); a failed If-Range sends all.
        if header is not None and not head:
            condition = get("HTTP_IF_RANGE")
            if condition is None or if_range(condition, variant.etag, variant.mtime):
                byte_range = parse_range(header, variant.size)
                if byte_range == UNSATISFIABLE:
                    start_response("416 Range Not Satisfiable", list(variant.unsatisfiable))
                    return []
                if byte_range is not None:
                    first, last = byte_range
                    length = last - first + 1
                    headers = [
                        *variant.partial,
                        ("Content-Length", str(length)),
                        ("Content-Range", f"bytes {first}-{last}/{variant.size}"),
                    ]
                    return self._send(
                        variant, "206 Partial Content", headers, first, length, environ,
                        start_response, looked_again,
                    )  # fmt: skip
        if head:
            start_response("200 OK", list(variant.headers))
            return []
        if variant.data is not None:
            start_response("200 OK", list(variant.headers))
            return [variant.data]
        return self._send(
            variant, "200 OK", list(variant.headers), 0, variant.size, environ, start_response,
            looked_again,
        )  # fmt: skip

    def _send(
        self,
        variant: Variant,
        status: str,
        headers: Headers,
        first: int,
        length: int,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        looked_again: bool,
    ) -> Iterable[bytes]:
        """Send ``length`` bytes of the variant from ``first``; the file is closed on every path."""
        if variant.data is not None:
            start_response(status, headers)
            return [variant.data[first : first + length]]
        try:
            # Unbuffered: sendfile and block reads need no BufferedReader, and it costs to make.
            file = open(variant.path, "rb", buffering=0)  # noqa: SIM115 - closed by body or below
        except OSError:  # removed since it was indexed: as if it never existed
            return self.app(environ, start_response)
        try:
            st = os.fstat(file.fileno())
            if st.st_size == variant.size and st.st_mtime_ns == variant.mtime_ns:
                return self._body(
                    file, variant, status, headers, first, length, environ, start_response
                )
        except BaseException:
            file.close()
            raise
        file.close()  # not the bytes its headers were made for
        return self._changed(environ, start_response, looked_again)

    def _body(
        self,
        file: FileIO,
        variant: Variant,
        status: str,
        headers: Headers,
        first: int,
        length: int,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """Start the response and give ``length`` bytes of the open file from ``first``."""
        if first:
            file.seek(first)
        if length <= self.max_in_memory:
            data = file.read(length)
            file.close()
            start_response(status, headers)
            return [data]
        start_response(status, headers)
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None and (
            length == variant.size
            or getattr(wrapper, "__module__", "").startswith(_CAPPING_SERVERS)
        ):
            body: Iterable[bytes] = wrapper(file, self.block_size)
            return body
        return FileBody(file, length, self.block_size)

    def _changed(
        self, environ: WSGIEnvironment, start_response: StartResponse, looked_again: bool
    ) -> Iterable[bytes]:
        """The file on disk is not the one its headers describe: look it up again, once.

        Its length, ``ETag`` and ``Last-Modified`` would frame and label other bytes (a strong
        ETag names exact bytes, RFC 9110 section 8.8.3), so the request is answered as
        autorefresh answers it.  A file that changes again meanwhile is being written: as if
        it were absent, the app's turn.
        """
        found = None if looked_again else self._lookup(environ.get("PATH_INFO", ""))
        if isinstance(found, StaticFile):
            return self._serve(found, environ, start_response, False, looked_again=True)
        return self.app(environ, start_response)

    def _plain(
        self, environ: WSGIEnvironment, start_response: StartResponse, status: str, headers: Headers
    ) -> list[bytes]:
        body = status.encode("ascii")
        start_response(
            status,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                *headers,
                *self._extra,
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _redirect(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        raw = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
        # "//host" would be a network-path reference (RFC 3986 section 4.2): keep it a path.
        path = quote(raw, safe="/!$&'()*+,;=:@~").lstrip("/")
        location = "/" + path + "/" if path else "/"
        query = environ.get("QUERY_STRING")
        if query:
            # PEP 3333 "Unicode Issues": the query is the request's bytes decoded as latin-1.
            location += "?" + quote(query, safe="/?!$&'()*+,;=:@~%", encoding="latin-1")
        return self._plain(environ, start_response, "302 Found", [("Location", location)])

    # --- finding files ---------------------------------------------------------------------

    def _mount(self, path: str) -> tuple[str, str, str] | None:
        for mount in self._mounts:
            prefix = mount[0]
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return mount
        return None

    def _check(self, path: str) -> _Hostile | None:
        """For an index miss: 404 for a hostile path under a mount, else the app's turn."""
        mount = self._mount(path)
        if mount is not None and split_path(path[len(mount[0]) :]) is None:
            return _HOSTILE
        return None

    def _lookup(self, path: str) -> Found:
        """Autorefresh: find the file on disk now, with the same rules as the index."""
        mount = self._mount(path)
        if mount is None:
            return None
        prefix, root, real = mount
        parts = split_path(path[len(prefix) :])
        if parts is None:
            return _HOSTILE
        segments, trailing = parts
        if not self.hidden and any(segment.startswith(".") for segment in segments):
            return None
        contained = Contained(real, self.follow_symlinks)
        fs_path = os.path.join(root, *segments)
        try:
            st = os.stat(fs_path)
            if stat.S_ISDIR(st.st_mode):
                if self.index is None:
                    return None
                fs_path = os.path.join(fs_path, self.index)
                st = os.stat(fs_path)
                if not trailing:
                    return _REDIRECT if stat.S_ISREG(st.st_mode) and contained(fs_path) else None
                trailing = False
        except (OSError, ValueError):
            return None
        if trailing or not stat.S_ISREG(st.st_mode) or not contained(fs_path):
            return None
        if self.options.precompressed and is_twin(fs_path):
            return None
        return build_file(fs_path, path, st, self.options, contained)
