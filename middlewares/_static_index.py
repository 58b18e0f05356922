"""The file side of :class:`~middlewares.static.StaticFiles`: safe paths, file entries, the index.

A URL path becomes a file only through :func:`split_path`, which refuses every way out of a
directory before the file system is touched; a file becomes a :class:`StaticFile` with every
header precomputed, so answering a request is a lookup.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from middlewares._http_cache import http_date
from middlewares._wsgi import add_vary

if TYPE_CHECKING:
    from middlewares._wsgi import Headers

#: Twin suffix -> content coding (RFC 9110 section 8.4.1; zstd is RFC 8878).
TWINS = ((".br", "br"), (".gz", "gzip"), (".zst", "zstd"))
_TWIN_SUFFIXES = tuple(suffix for suffix, _ in TWINS)

# A file whose *own* type is compressed (data.tar.gz) is that type; mimetypes would call it
# application/x-tar with an "encoding", and labelling it so would make a browser unpack it.
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "br": "application/x-brotli",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
}
_UTF8_TYPES = ("application/javascript", "application/json", "image/svg+xml")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")
YEAR = 31536000  # what nginx's "expires max" sets; RFC 9111 section 5.2.2.1 caps at 2**31


def split_path(rel: str) -> tuple[list[str], bool] | None:
    """Segments of the URL path below a mount point, and whether it ended in ``/``.

    ``rel`` is the rest of ``PATH_INFO`` after the prefix: the server has already
    percent-decoded it (``%2e%2e`` is ``..``, ``%2f`` is ``/``) and handed the bytes over as
    latin-1 (PEP 3333 "Unicode issues").  Returns ``None`` (answer 404) for anything that is
    not a plain relative path: bytes that are not valid UTF-8 (so overlong forms such as
    ``%c0%ae`` never become a dot), empty segments (``//etc`` would be absolute once joined),
    ``.`` and ``..``, backslashes, NUL and other control characters, and Windows drive letters.
    """
    if rel == "":
        return [], False
    if rel[0] != "/":
        return None
    try:
        text = rel.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    segments = text[1:].split("/")
    trailing = segments[-1] == ""
    if trailing:
        segments.pop()
    for segment in segments:
        if (
            segment in ("", ".", "..")
            or "\\" in segment
            or _CONTROL.search(segment)
            or _DRIVE.match(segment)
            or (os.name == "nt" and ":" in segment)  # alternate data streams: name::$DATA
        ):
            return None
    return segments, trailing


def url_key(text: str) -> str:
    """A URL path as the server puts it in ``PATH_INFO``: UTF-8 bytes read as latin-1."""
    return text.encode("utf-8").decode("latin-1")


@dataclass(frozen=True, slots=True)
class Options:
    """What every file's headers are built from (validated by StaticFiles)."""

    max_age: int | None
    immutable: re.Pattern[str] | None
    content_types: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    precompressed: bool
    max_in_memory: int
    load_data: bool


@dataclass(slots=True)
class Variant:
    """One representation of a file (identity or a precompressed twin), headers precomputed."""

    path: str
    size: int
    mtime_ns: int  # as on disk: with size, tells a file changed since (StaticFiles._send)
    mtime: int  # Last-Modified, never later than when the entry was made
    etag: str
    headers: Headers  # 200
    partial: Headers  # 206, without Content-Length and Content-Range
    not_modified: Headers  # 304 (RFC 9110 section 15.4.5)
    unsatisfiable: Headers  # 416
    data: bytes | None


@dataclass(slots=True)
class StaticFile:
    """A servable file: its variants by content coding (``None`` is identity)."""

    by_coding: dict[str | None, Variant]
    offered: tuple[str, ...]  # codings with a twin, smallest first


def content_type(name: str, overrides: tuple[tuple[str, str], ...]) -> str:
    lower = name.lower()
    for suffix, ctype in overrides:
        if lower.endswith(suffix):
            return ctype
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        guessed = _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
    ctype = guessed or "application/octet-stream"
    if ctype.startswith("text/") or ctype in _UTF8_TYPES:
        ctype += "; charset=utf-8"
    return ctype


def _variant(
    path: str,
    st: os.stat_result,
    coding: str | None,
    common: Headers,
    error: Headers,
    options: Options,
) -> Variant:
    tag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
    etag = f'"{tag}-{coding}"' if coding else f'"{tag}"'
    # RFC 9110 section 8.8.2.1: never a Last-Modified later than the response's Date; a file
    # dated in the future gets the time its entry is made (index mode: start-up, which every
    # later Date follows).  304s and If-Range compare with this same value.
    mtime = min(int(st.st_mtime), int(time.time()))
    validators: Headers = [("ETag", etag), ("Last-Modified", http_date(mtime))]
    ctype, *rest = common  # Content-Type first, then Cache-Control, Vary and the extra headers
    coded: Headers = [("Content-Encoding", coding)] if coding else []
    partial = [ctype, *coded, *validators, ("Accept-Ranges", "bytes"), *rest]
    headers = [ctype, ("Content-Length", str(st.st_size)), *partial[1:]]
    not_modified = [*validators, *rest]
    # An empty 416 still names its type: wsgiref.validate refuses any status but 204/304
    # without Content-Type (PEP 3333 validators run in front of apps in development).  It has
    # no Cache-Control of ours: "public" or "max-age" would let a shared cache store it (RFC
    # 9111 section 3) and hand one client's bad Range to everyone.
    unsatisfiable = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Range", f"bytes */{st.st_size}"),
        ("Content-Length", "0"),
        *error,
    ]
    data = None
    if options.load_data and st.st_size <= options.max_in_memory:
        with open(path, "rb") as f:
            data = f.read()
    return Variant(
        path, st.st_size, st.st_mtime_ns, mtime, etag, headers, partial, not_modified,
        unsatisfiable, data,
    )  # fmt: skip


def build_file(
    path: str, url: str, st: os.stat_result, options: Options, contained: Callable[[str], bool]
) -> StaticFile:
    """The :class:`StaticFile` for ``path`` (already checked), served at ``url``."""
    twins = _twins(path, st, options, contained)
    vary: Headers = []
    if twins:
        add_vary(vary, "Accept-Encoding")  # RFC 9110 section 12.5.5
    # The extra headers: Vary merges into ours, the rest go out as given (two Link headers
    # stay two), after our Cache-Control, which a Cache-Control of theirs replaces.
    extra: Headers = []
    for name, value in options.headers:
        if name.lower() == "vary":
            add_vary(vary, value)
        else:
            extra.append((name, value))
    ctype = ("Content-Type", content_type(os.path.basename(path), options.content_types))
    common: Headers = [ctype, *_cache_control(url, options), *vary, *extra]
    error: Headers = [*vary, *extra]
    by_coding: dict[str | None, Variant] = {None: _variant(path, st, None, common, error, options)}
    for twin, tst, coding in twins:
        by_coding[coding] = _variant(twin, tst, coding, common, error, options)
    return StaticFile(by_coding, tuple(coding for _, _, coding in twins))


def _cache_control(url: str, options: Options) -> Headers:
    if any(name.lower() == "cache-control" for name, _ in options.headers):
        return []
    if options.immutable is not None and options.immutable.search(url):
        return [("Cache-Control", f"max-age={YEAR}, public, immutable")]
    if options.max_age is not None:
        return [("Cache-Control", f"max-age={options.max_age}, public")]
    return []


def _twins(
    path: str, st: os.stat_result, options: Options, contained: Callable[[str], bool]
) -> list[tuple[str, os.stat_result, str]]:
    """The precompressed twins worth serving for ``path``, smallest first."""
    twins: list[tuple[str, os.stat_result, str]] = []
    if not options.precompressed:
        return twins
    for suffix, coding in TWINS:
        twin = path + suffix
        try:
            tst = os.stat(twin)
        except (OSError, ValueError):
            continue
        # A twin older than its file is stale (edited since `compress` ran); one that
        # does not shrink is not worth a Vary.
        if (
            stat.S_ISREG(tst.st_mode)
            and tst.st_mtime_ns >= st.st_mtime_ns
            and tst.st_size < st.st_size
            and contained(twin)
        ):
            twins.append((twin, tst, coding))
    twins.sort(key=lambda item: item[1].st_size)  # smallest accepted first
    return twins


def is_twin(path: str) -> bool:
    """Whether ``path`` is a precompressed twin of an existing file (never served by name)."""
    lower = path.lower()
    for suffix in _TWIN_SUFFIXES:
        if lower.endswith(suffix):
            return os.path.isfile(path[: -len(suffix)])
    return False


def walk(
    prefix: str,
    root: str,
    options: Options,
    *,
    index: str | None,
    hidden: bool,
    follow_symlinks: bool,
    contained: Callable[[str], bool],
) -> Iterable[tuple[str, StaticFile | None]]:
    """Every (URL key, file) under ``root``; a ``None`` file marks a directory to redirect."""
    # followlinks=True, then prune by hand: symlinked directories inside the root are served
    # as autorefresh would serve them, an alias ("current -> v2") under both names; ones
    # leading out are pruned unless follow_symlinks; a directory that is one of its own
    # ancestors (a symlink loop) is not entered again.
    ancestors: dict[str, frozenset[tuple[int, int]]] = {}  # by dirpath, itself included
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            dst = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        above = ancestors.get(os.path.dirname(dirpath), frozenset())
        node = (dst.st_dev, dst.st_ino)
        if node in above or not (follow_symlinks or contained(dirpath)):
            dirnames[:] = []
            continue
        ancestors[dirpath] = above | {node}
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        try:
            base = prefix + "".join("/" + url_key(_utf8(part)) for part in parts)
        except UnicodeError:  # not UTF-8 on disk: no URL can name it (split_path decodes strictly)
            dirnames[:] = []
            continue
        if not hidden:
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        names = set(filenames)
        for name in filenames:
            if not hidden and name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            if options.precompressed and name.lower().endswith(_TWIN_SUFFIXES):
                stem = name[: name.rfind(".")]
                if stem in names:
                    continue
            try:
                leaf = "/" + url_key(_utf8(name))
                st = os.stat(path)
            except (OSError, UnicodeError):
                continue
            if split_path(leaf) is None:  # a name no request may reach ("a\\b", "C:x")
                continue
            key = base + leaf
            if stat.S_ISREG(st.st_mode) and (follow_symlinks or contained(path)):
                entry = build_file(path, key, st, options, contained)
                yield key, entry
                if name == index:
                    yield base + "/", entry
                    yield base, None  # "" too: a root mount asked for as its SCRIPT_NAME


def _utf8(name: str) -> str:
    """``name`` if its bytes on disk are UTF-8, else UnicodeError (surrogate-escaped bytes)."""
    return os.fsencode(name).decode("utf-8")


class FileBody:
    """Up to ``length`` bytes of an open file, in blocks; ``close()`` closes the file once."""

    __slots__ = ("_block", "_file", "_remaining")

    def __init__(self, file: IO[bytes], length: int, block_size: int) -> None:
        self._file: IO[bytes] | None = file
        self._remaining = length
        self._block = block_size

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._file is None or self._remaining <= 0:
            raise StopIteration
        data = self._file.read(min(self._block, self._remaining))
        if not data:  # the file shrank under us: end short rather than spin
            raise StopIteration
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
