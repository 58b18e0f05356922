"""Compress: gzip, br and zstd response compression that never breaks a stream."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from middlewares._codecs import Codec, Encoder, make_codec
from middlewares._wsgi import (
    Headers,
    Responder,
    add_vary,
    choose_encoding,
    get_header,
    intercept,
    known_chunks,
    parse_content_length,
    remove_header,
    set_header,
)

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DEFAULT_MIMETYPES", "Compress"]

#: Media types worth compressing: text, and the structured text formats served as
#: ``application/*``.  ``type/*`` matches every subtype, ``type/*+suffix`` every subtype with
#: that structured-syntax suffix (RFC 6838 section 4.2.8).
DEFAULT_MIMETYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "application/wasm",
    "application/yaml",
    "application/toml",
    "application/vnd.ms-fontobject",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
    "font/ttf",
    "font/otf",
)

_CODINGS = ("br", "gzip", "zstd")
_STREAMING = ("flush", "batch", "off")
_VARY = ("Vary", "Accept-Encoding")
# Status codes whose response is never compressed: no content at all (1xx, 204, 205: RFC 9110
# sections 15.2, 15.3.5, 15.3.6), or content that must stay the identity bytes (206 carries a
# range of them), or none but the headers of the 200 it stands for (304).
_NO_CONTENT = "no content"
_IDENTITY = "identity"
_NOT_MODIFIED = "not modified"
_STATUS_KINDS = {str(code): _NO_CONTENT for code in range(100, 200)} | {
    "204": _NO_CONTENT,
    "205": _NO_CONTENT,
    "206": _IDENTITY,
    "304": _NOT_MODIFIED,
}
# The digest of the content (RFC 9530 sections 2 and 3; Content-MD5 of RFC 1864) would no
# longer match compressed content, and a signature may cover the header (RFC 9421): a
# response that carries one is left alone.
_DIGESTS = frozenset({"content-digest", "repr-digest", "content-md5"})
_PLAIN = "plain"
_PAD_RANGE = 257  # 0-256 bytes: a brotli metadata block holds up to 256 in one length byte


def _int_option(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _media_patterns(mimetypes: Iterable[str]) -> tuple[frozenset[str], ...]:
    if isinstance(mimetypes, str) or not isinstance(mimetypes, Iterable):
        raise TypeError("mimetypes must be a list of media types such as ['text/*']")
    exact: set[str] = set()
    majors: set[str] = set()
    suffixed: set[str] = set()
    for pattern in mimetypes:
        if not isinstance(pattern, str):
            raise TypeError(f"mimetypes entries must be str, got {pattern!r}")
        major, slash, minor = pattern.strip().lower().partition("/")
        if not slash or not major or not minor or "*" in major or ";" in minor:
            raise ValueError(f"mimetypes entry {pattern!r} is not 'type/subtype' or 'type/*'")
        if minor == "*":
            majors.add(major)
        elif minor.startswith("*+") and "*" not in minor[1:]:
            suffixed.add(f"{major}/{minor[1:]}")  # "application/+json"
        elif "*" in minor:
            raise ValueError(f"mimetypes entry {pattern!r}: '*' only as 'type/*' or 'type/*+x'")
        else:
            exact.add(f"{major}/{minor}")
    return frozenset(exact), frozenset(majors), frozenset(suffixed)


class Compress:
    """Compress responses with br, gzip or zstd, as the client's ``Accept-Encoding`` allows.

    Bodies the app returns whole (a list of chunks) are compressed in one call and get an exact
    ``Content-Length``; streamed bodies are compressed chunk by chunk and flushed after each
    chunk, so server-sent events and long polls arrive as the app yields them, in O(chunk)
    memory.  ``Vary: Accept-Encoding`` goes on every response of a compressible type, and a
    strong ``ETag`` becomes weak on compressed ones.

    Security: compressing a response that mixes a secret (a CSRF token, a session-bound value)
    with text an attacker can inject lets an attacker who sees the encrypted length recover the
    secret (BREACH).  ``breach_padding=True`` only makes that slower; see the docs for what
    protects such pages.

    Usage::

        app = Compress(app, encodings=("br", "gzip"), min_size=500)

    :param app: the WSGI application to wrap.
    :param encodings: the codings offered, in server preference (wins among equal client
        q-values): any of ``"br"``, ``"gzip"``, ``"zstd"``.  ``"zstd"`` needs a zstd codec
        (``wsgi-middlewares[zstd]`` or Python 3.14+), else ``ValueError``.
    :param min_size: bodies whose length is known and smaller than this many bytes are sent
        as they are (compression would not pay for its headers).
    :param gzip_level: zlib level, 1 (fast) to 9 (small).
    :param brotli_quality: brotli quality, 0 (fast) to 11 (small).
    :param zstd_level: zstd level, 1 to 19 (higher levels need windows over the 8 MB that
        RFC 9659 lets clients refuse).
    :param mimetypes: the media types to compress: ``"type/subtype"``, ``"type/*"`` or
        ``"type/*+suffix"`` patterns; default :data:`DEFAULT_MIMETYPES`.
    :param streaming: for streamed bodies: ``"flush"`` flushes after every chunk the app
        yields; ``"batch"`` lets the codec emit when its buffer fills (better ratio, later
        bytes); ``"off"`` sends streamed bodies uncompressed.  ``text/event-stream`` is always
        flushed (under ``"off"``, sent uncompressed).
    :param breach_padding: add 0-256 random bytes, which every decoder skips, to each
        compressed response (gzip and br only; ``ValueError`` with ``"zstd"``).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        encodings: Iterable[str] = ("br", "gzip"),
        min_size: int = 500,
        gzip_level: int = 6,
        brotli_quality: int = 4,
        zstd_level: int = 3,
        mimetypes: Iterable[str] = DEFAULT_MIMETYPES,
        streaming: str = "flush",
        breach_padding: bool = False,
    ) -> None:
        self.app = app
        if isinstance(encodings, str) or not isinstance(encodings, Iterable):
            raise TypeError("encodings must be a tuple of codings such as ('br', 'gzip')")
        names = tuple(str(name).strip().lower() for name in encodings)
        if not names or len(set(names)) != len(names) or not set(names) <= set(_CODINGS):
            raise ValueError(f"encodings must name distinct codings among {_CODINGS}: {names}")
        self.min_size = _int_option("min_size", min_size, 0, 2**63)
        levels = {
            "gzip_level": _int_option("gzip_level", gzip_level, 1, 9),
            "brotli_quality": _int_option("brotli_quality", brotli_quality, 0, 11),
            "zstd_level": _int_option("zstd_level", zstd_level, 1, 19),
        }
        if streaming not in _STREAMING:
            raise ValueError(f"streaming must be one of {_STREAMING}, got {streaming!r}")
        if not isinstance(breach_padding, bool):
            raise TypeError("breach_padding must be True or False")
        if breach_padding and "zstd" in names:
            raise ValueError(
                "breach_padding=True pads gzip and br only; remove 'zstd' from encodings"
            )
        self._codecs: dict[str, Codec] = {name: make_codec(name, **levels) for name in names}
        self._encodings = names
        self._exact, self._majors, self._suffixed = _media_patterns(mimetypes)
        self._known: dict[str, bool] = {}  # Content-Type value -> compressible (a memo)
        self._kinds: dict[str, str] = {}  # status line -> its kind in _STATUS_KINDS (a memo)
        self._min = max(self.min_size, 1)  # an empty body never gains from compression
        self._min_digits = len(str(self._min))
        self._streaming = streaming
        self._padding = breach_padding

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return intercept(self, self.app, environ, start_response)

    def settle(self, status: str, headers: Headers, final: bool) -> Headers | None:
        """The headers to send at once when the status and headers settle that nothing is
        compressed (:func:`~middlewares._wsgi.intercept`), else ``None``: the body decides.

        Settled without the body: a type not to compress or a status without content (sent
        as they are); a 304 or 206, a ``Content-Range``, a ``Content-Encoding``, a digest of
        the content, ``Cache-Control: no-transform`` or a ``Content-Length`` below
        ``min_size`` (sent with ``Vary: Accept-Encoding``).  A 304 with a strong ``ETag`` is
        left to :meth:`_Compressing.start`, which sees the request.  With ``final``, the rest
        is sent uncompressed too.
        """
        ctype = clen = cache_control = None
        vary = keep = False
        for name, value in headers:  # one pass, most frequent names first
            key = name.lower()
            if key == "content-type":
                ctype = value
            elif key == "content-length":
                clen = value
            elif key == "content-encoding":
                keep = keep or bool(value.strip())
            elif key == "content-range":
                keep = True
            elif key == "vary":
                vary = True
            elif key == "cache-control":  # a list header may span lines (RFC 9110 5.3)
                cache_control = value if cache_control is None else f"{cache_control},{value}"
            elif key in _DIGESTS:
                keep = True
        if ctype is not None:
            known = self._known.get(ctype)
            if not (self.compressible(ctype) if known is None else known):
                return headers
        elif status[:3] != "304" or final or _strong_etag(headers) is None:
            return headers
        else:
            # A 304 without a type, as frameworks send it: whether the 200 it stands for was
            # compressed shows only in the request (see _Compressing._not_modified).
            return None
        kind = self._kinds.get(status)
        if kind is None:
            kind = self._status_kind(status)
        # 1xx, 204 and 205 have no content: nothing varies.
        if kind is _NO_CONTENT:
            return headers
        if kind is _NOT_MODIFIED and not final and _strong_etag(headers):
            return None  # the ETag of the 200 depends on the request: start() decides
        if not (
            final
            or kind is not _PLAIN  # 304, and 206 (ranges of the identity bytes)
            or keep
            or (clen is not None and self._below_min(clen))
            or (cache_control is not None and _no_transform(cache_control))
        ):
            return None
        # The same URL may be compressed for another client, so caches must key on the header
        # (RFC 9110 section 12.5.5), also on 304 (section 15.4.5) and uncompressed responses.
        headers = list(headers)
        if vary:
            add_vary(headers, "Accept-Encoding")
        else:
            headers.append(_VARY)
        return headers

    def _status_kind(self, status: str) -> str:
        """The kind of ``status``, memoised by the status line (whose hash a literal keeps)."""
        kind = _STATUS_KINDS.get(status[:3], _PLAIN)
        if len(self._kinds) < 256:  # apps send a handful of distinct lines; stay bounded
            self._kinds[status] = kind
        return kind

    def _below_min(self, content_length: str) -> bool:
        """Whether a ``Content-Length`` value is a length below :attr:`min_size`."""
        if (
            len(content_length) < self._min_digits
            and content_length.isdigit()
            and content_length.isascii()
        ):
            return True  # fewer digits than min_size has: smaller, without int()
        length = parse_content_length(content_length)  # leading zeros, padding, not a length
        return length is not None and length < self._min

    def responder(self, environ: WSGIEnvironment, start_response: StartResponse) -> Responder:
        """The responder of a response whose body decides (see :meth:`settle`)."""
        responder = _Compressing(environ, start_response)
        responder._mw = self  # the rest of its state is set by start(), which runs first
        return responder

    def compressible(self, content_type: str) -> bool:
        """Whether a response of ``content_type`` (parameters allowed) is one to compress."""
        known = self._known.get(content_type)
        if known is not None:
            return known
        media = content_type.partition(";")[0].strip().lower()
        major, _, minor = media.partition("/")
        plus = minor.rfind("+")
        known = (
            media in self._exact
            or major in self._majors
            or (plus >= 0 and f"{major}/{minor[plus:]}" in self._suffixed)
        )
        if len(self._known) < 256:  # apps send a handful of distinct values; stay bounded
            self._known[content_type] = known
        return known

    def _pad(self) -> int | None:
        return secrets.randbelow(_PAD_RANGE) if self._padding else None


def _strong_etag(headers: Headers) -> str | None:
    """The response's ``ETag`` when it is a strong one, else ``None``."""
    etag = (get_header(headers, "ETag") or "").strip()
    return etag if etag and not etag.startswith("W/") else None


def _no_transform(cache_control: str) -> bool:
    # RFC 9111 section 5.2.1.6 / 5.2.2.6: an intermediary must not change the content coding.
    return any(
        part.partition("=")[0].strip() == "no-transform"
        for part in cache_control.lower().split(",")
    )


class _Compressing(Responder):
    """One response through :class:`Compress`: decides in :meth:`start`, then compresses."""

    watch_end = False  # an untouched body goes to the server as the app returned it
    waits_for_a_chunk = True  # an empty stream is left alone, as an empty list is
    __slots__ = ("_flush", "_mw")
    _mw: Compress
    # Defaults on the class: the usual response (not compressed) never writes them.
    _encoder: Encoder | None = None
    _whole: bytes = b""
    _flush: bool

    def start(self, status: str, headers: Headers, body: Iterable[bytes] | None) -> str:
        mw = self._mw
        settled = mw.settle(status, headers, False)
        if settled is not None:  # a restart with exc_info: the headers may settle it now
            headers[:] = settled
            return status
        if status[:3] == "304":
            self._not_modified(headers)
            return status
        # Compressible (settle() said so), and maybe compressed: caches must key on it.
        add_vary(headers, "Accept-Encoding")
        whole: bytes | None = None
        if type(body) is list and len(body) == 1 and type(body[0]) is bytes:
            whole = body[0]  # the common case, without a copy
        elif body is not None:
            # A list or tuple, also inside a middleware that passes it on (a profiled one).
            chunks = known_chunks(body)
            if chunks is not None and all(type(chunk) is bytes for chunk in chunks):
                whole = b"".join(chunks)
        head = self.environ.get("REQUEST_METHOD") == "HEAD"
        if whole:
            if len(whole) < mw._min:
                return status
        elif whole is not None and not head:
            return status  # an empty body
        else:
            whole = None  # HEAD without its body (RFC 9110 section 9.3.2): length unknown
        coding = choose_encoding(self.environ.get("HTTP_ACCEPT_ENCODING"), mw._encodings)
        if coding is None:
            return status
        codec = mw._codecs[coding]
        if whole is not None:
            self._encoder = None  # start() runs again if the app restarts with exc_info
            compressed = codec.whole(whole, mw._pad())
            if len(compressed) >= len(whole):
                return status  # incompressible: the identity body is the smaller one
            set_header(headers, "Content-Length", str(len(compressed)))
            self._whole = b"" if head else compressed
        else:
            ctype = get_header(headers, "Content-Type") or ""
            event_stream = ctype.partition(";")[0].strip().lower() == "text/event-stream"
            if head:
                if (
                    parse_content_length(get_header(headers, "Content-Length")) is None
                    or mw._streaming == "off"
                ):
                    return status  # a GET might or might not compress: claim nothing
            elif mw._streaming == "off":
                return status
            else:
                self._encoder = codec.stream(mw._pad())
                self._flush = event_stream or mw._streaming == "flush"
            # The compressed length is not known before the body is: none beats a wrong one.
            remove_header(headers, "Content-Length")
        set_header(headers, "Content-Encoding", coding)
        # A compressed representation is not byte-identical (RFC 9110 section 8.8.1), and
        # byte ranges of it are not offered.
        etag = _strong_etag(headers)
        if etag is not None:
            set_header(headers, "ETag", "W/" + etag)
        remove_header(headers, "Accept-Ranges")
        self.filters_body = True
        return status

    def _not_modified(self, headers: Headers) -> None:
        """Give a 304 the ``ETag`` and ``Vary`` of the 200 it stands for (RFC 9110 15.4.5).

        The application compared the client's ``If-None-Match`` with its own strong tag, which
        we make weak on compressed responses: a client that holds ``W/"x"`` (and would get a
        compressed 200 now) holds our compressed copy, and a cache must not be freshened
        with a validator that none of its stored responses has (RFC 9111 section 4.3.4).
        A 304 of a compressible type gets ``Vary`` as its 200 does; one without a type (how
        frameworks send them) only when it stands for a compressed 200, since ``Vary`` on the
        304 of an image would spread to the cached image.
        """
        typed = get_header(headers, "Content-Type") is not None
        if typed:
            add_vary(headers, "Accept-Encoding")
        etag = _strong_etag(headers)
        if etag is None:
            return
        held = self.environ.get("HTTP_IF_NONE_MATCH") or ""
        weak = "W/" + etag
        if weak in held and weak in (member.strip() for member in held.split(",")):
            accept = self.environ.get("HTTP_ACCEPT_ENCODING")
            if choose_encoding(accept, self._mw._encodings) is not None:
                set_header(headers, "ETag", weak)
                if not typed:
                    add_vary(headers, "Accept-Encoding")

    def filter(self, chunk: bytes) -> bytes:
        encoder = self._encoder
        if encoder is None:  # a whole body (sent at its first chunk) or HEAD (nothing)
            out, self._whole = self._whole, b""
            return out
        if not chunk:
            return b""  # an empty chunk carries no data: no flush marker for it
        return encoder.sync(chunk) if self._flush else encoder.compress(chunk)

    def finish(self) -> bytes:
        return self._encoder.finish() if self._encoder is not None else b""
